"""Churn: survival curves, a Cox model of the gap to the next visit, risk lists and purchase propensity.

Definitions
-----------
- A user has **churned** when they have had no activity (any action of their own, or a purchase
  when ``basis="purchase"``) for ``inactivity_days`` up to the last day of data. Their lifetime is
  first to last active day; everyone else is still active, and their lifetime is *censored*.
- **Risk of churning in the next H days** is the chance of no activity in those days, given how
  long the user has already been away: ``S(e + H) / S(e)`` from a Cox model of the gap between a
  user's last visit and their next one (lifelines ``conditional_after``; fitted with the left
  truncation the same conditioning implies).
- **Purchase propensity** is a logistic regression of "buys in the next H days".

Every model is trained on features from before ``cutoff - H`` with labels in ``[cutoff - H,
cutoff)`` and applied at ``cutoff``, so nothing it scores has leaked into its training.
"""

from __future__ import annotations

import logging
import threading
import warnings
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

from engine.errors import ConvergenceError, InsufficientDataError, PondError
from engine.warehouse import data_version, run_query

BASES = ("activity", "purchase")
GROUPS = ("none", "channel", "community", "rfm", "segment")
BANDS = (("high", 0.6), ("medium", 0.3), ("low", 0.0))
#: Plain-language names of the features, for drivers and the forest plot.
LABELS = {
    "log_recency": "days since last visit", "log_purchase_recency": "days since last purchase",
    "log_tenure": "days since first visit", "log_active_days": "active days", "log_orders": "orders",
    "log_monetary": "spend", "active_30": "active days in the last 30", "trend": "activity trend (30d vs prior 30d)",
    "coupon": "used a coupon", "in_group": "in a WeChat group", "log_tenure_at_last": "tenure at last visit",
}


def last_day(con: duckdb.DuckDBPyConnection) -> date:
    day = con.execute("select max(day) from user_day").fetchone()[0]
    if day is None:
        raise InsufficientDataError("the warehouse holds no activity yet; import events or build the demo")
    return day


# --- survival curves ---------------------------------------------------------------------------

def lifetimes(con: duckdb.DuckDBPyConnection, *, inactivity_days: int = 30, basis: str = "activity"
              ) -> pd.DataFrame:
    """Per user: first_day, last_day, duration (days), churned (event observed), channel, community."""
    if basis not in BASES:
        raise PondError(f"basis must be activity or purchase, not {basis!r}")
    if not 1 <= inactivity_days <= 365:
        raise PondError("churn needs 1 to 365 days without activity")
    end = last_day(con)
    frame = run_query(con, "churn_lifetimes", {"basis": basis})
    if frame.empty:
        raise InsufficientDataError("no user has a purchase yet" if basis == "purchase" else "no activity yet")
    frame["first_day"] = pd.to_datetime(frame["first_day"]).dt.date
    frame["last_day"] = pd.to_datetime(frame["last_day"]).dt.date
    away = np.array([(end - d).days for d in frame["last_day"]])
    frame["churned"] = away >= inactivity_days
    # a churned user's life ends on their last active day; the others are still alive at the end
    ends = np.where(frame["churned"], [(d - f).days for d, f in zip(frame["last_day"], frame["first_day"],
                                                                   strict=True)],
                    [(end - f).days for f in frame["first_day"]])
    frame["duration"] = ends + 1
    return frame


def _group_labels(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, group: str, segment: str | None
                  ) -> pd.Series:
    if group == "none":
        return pd.Series("everyone", index=frame.index)
    if group in ("channel", "community"):
        return frame[group].astype(str)
    if group == "rfm":
        from engine.rfm import rfm_scores

        scores = rfm_scores(con).set_index("user_id")["segment"]
        return frame["user_id"].map(scores).fillna("not a buyer (365 days)")
    if group == "segment":
        from engine.segments import load_segment, segment_users

        if not segment:
            raise PondError("choose a saved segment to compare with everyone else")
        members = set(segment_users(con, load_segment(con, segment))["user_id"])
        return frame["user_id"].map(lambda u: segment if u in members else "everyone else")
    raise PondError(f"group by one of {', '.join(GROUPS)}, not {group!r}")


@dataclass
class SurvivalResult:
    curves: pd.DataFrame          # group, day, survival, low, high
    groups: pd.DataFrame          # group, users, churned, active, median_lifetime
    logrank_p: float | None
    inactivity_days: int
    basis: str


def survival(con: duckdb.DuckDBPyConnection, *, inactivity_days: int = 30, basis: str = "activity",
             group: str = "none", segment: str | None = None, max_groups: int = 8) -> SurvivalResult:
    """Kaplan–Meier curves with 95% bands per group, median lifetimes and a log-rank test."""
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test

    frame = lifetimes(con, inactivity_days=inactivity_days, basis=basis)
    frame["group"] = _group_labels(con, frame, group, segment)
    top = frame["group"].value_counts().index[:max_groups]
    frame.loc[~frame["group"].isin(top), "group"] = "other"
    curves, rows = [], []
    for name, part in frame.groupby("group", sort=True):
        km = KaplanMeierFitter().fit(part["duration"], part["churned"], label="survival")
        table = km.survival_function_.join(km.confidence_interval_)
        table.columns = ["survival", "low", "high"]
        curves.append(table.rename_axis("day").reset_index().assign(group=name))
        median = km.median_survival_time_
        rows.append({"group": name, "users": len(part), "churned": int(part["churned"].sum()),
                     "active": int((~part["churned"]).sum()),
                     "median_lifetime": None if not np.isfinite(median) else float(median)})
    p_value = None
    if frame["group"].nunique() > 1:
        test = multivariate_logrank_test(frame["duration"], frame["group"], frame["churned"])
        p_value = float(test.p_value)
    return SurvivalResult(pd.concat(curves, ignore_index=True)[["group", "day", "survival", "low", "high"]],
                          pd.DataFrame(rows), p_value, inactivity_days, basis)


# --- features at a cutoff ------------------------------------------------------------------------

def features(con: duckdb.DuckDBPyConnection, cutoff: date, horizon_days: int) -> pd.DataFrame:
    """Per user active before ``cutoff``: model features and what happened in the horizon after it."""
    first_day = con.execute("select min(day) from user_day").fetchone()[0] or cutoff
    frame = run_query(con, "churn_features", {"cutoff": cutoff, "horizon": int(horizon_days),
                                              "first_day": first_day, "days": max((cutoff - first_day).days, 0)})
    if frame.empty:
        return frame
    for column in ("first_active", "last_active", "first_purchase", "last_purchase", "next_active",
                   "next_purchase"):
        frame[column] = pd.to_datetime(frame[column])
    cut = pd.Timestamp(cutoff)
    frame["recency"] = (cut - frame["last_active"]).dt.days
    frame["purchase_recency"] = (cut - frame["last_purchase"]).dt.days
    frame["tenure"] = (cut - frame["first_active"]).dt.days
    frame["active_after"] = frame["next_active"].notna()
    frame["bought_after"] = frame["next_purchase"].notna()
    frame["log_recency"] = np.log1p(frame["recency"])
    frame["log_purchase_recency"] = np.log1p(frame["purchase_recency"].fillna(frame["tenure"] + 1))
    frame["log_tenure"] = np.log1p(frame["tenure"])
    frame["log_tenure_at_last"] = np.log1p(frame["tenure"] - frame["recency"])
    frame["log_active_days"] = np.log1p(frame["active_days"])
    frame["log_orders"] = np.log1p(frame["orders"])
    frame["log_monetary"] = np.log1p(frame["monetary"].clip(lower=0))
    frame["trend"] = frame["active_30"] - frame["active_prior_30"]
    frame["coupon"] = (frame["coupons"] > 0).astype(float)
    frame["in_group"] = frame["in_group"].astype(float)
    return frame


#: Users a Cox model is fitted on at most (a seeded sample beyond that).
MAX_COX_ROWS = 40_000
#: Held-out users the risk list's concordance is measured on at most.
MAX_CONCORDANCE_ROWS = 10_000
LOGISTIC = ("log_recency", "log_purchase_recency", "log_tenure", "log_active_days", "log_orders", "log_monetary",
            "active_30", "trend", "coupon", "in_group")
#: Cox covariates: not the clock itself (days since the last visit) nor tenure, which with it is collinear.
COX = ("log_tenure_at_last", "log_active_days", "log_orders", "log_monetary", "active_30", "trend", "coupon",
       "in_group")


class Standardiser:
    """Column means and spreads of the training rows, applied unchanged to later rows."""

    def __init__(self, frame: pd.DataFrame, columns: tuple[str, ...], channels: list[str]):
        self.columns, self.channels = columns, channels
        x = self._raw(frame)
        self.mean_, self.scale_ = x.mean(), x.std(ddof=0).replace(0, 1.0)

    def _raw(self, frame: pd.DataFrame) -> pd.DataFrame:
        x = frame[list(self.columns)].astype(float)
        # one pass over the text column, not one comparison per channel; an unseen channel is all zeros
        codes = pd.Categorical(frame["channel"], categories=self.channels).codes
        dummies = {f"channel={channel}": (codes == i).astype(float)
                   for i, channel in enumerate(self.channels) if i > 0}  # the first is the reference level
        if not dummies:
            return x.copy()
        # all at once: inserting them one by one (assign) fragments the frame, and pandas warns
        # once per column beyond a hundred, on every transform
        return pd.concat([x, pd.DataFrame(dummies, index=x.index)], axis=1)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return (self._raw(frame) - self.mean_) / self.scale_


def _fit_logistic(train: pd.DataFrame, label: str, columns: tuple[str, ...]) -> tuple[LogisticRegression, Standardiser]:
    y = train[label].to_numpy()
    if len(np.unique(y)) < 2:
        raise InsufficientDataError(f"every training user has the same outcome ({label}); use a longer horizon "
                                    "or an earlier cutoff")
    scaler = Standardiser(train, columns, sorted(train["channel"].unique()))
    # Newton steps converge in a handful of iterations on these few standardised columns
    # (four times faster than L-BFGS here, and to a tighter optimum)
    model = LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=200).fit(scaler.transform(train), y)
    return model, scaler


def _gap_rows(frame: pd.DataFrame, horizon_days: int, basis: str) -> pd.DataFrame:
    """Left-truncated gaps from the last visit (or purchase) before the cutoff to the next one after it."""
    last = frame["last_active"] if basis == "activity" else frame["last_purchase"]
    nxt = frame["next_active"] if basis == "activity" else frame["next_purchase"]
    elapsed = (frame["recency"] if basis == "activity" else frame["purchase_recency"]).astype(float)
    rows = frame.loc[last.notna()].copy()
    # days are whole: a user e days away at the cutoff is known to have a gap of at least e, and
    # returning on the cutoff day itself means a gap of exactly e, so they enter the risk set at e - 0.5
    rows["entry"] = elapsed[last.notna()] - 0.5
    observed = nxt[last.notna()].notna()
    rows["event"] = observed.astype(int)
    rows["gap"] = np.where(observed, (nxt - last).dt.days[last.notna()], rows["entry"] + horizon_days)
    rows["gap"] = rows["gap"].astype(float)
    return rows


def _fit_cox(train: pd.DataFrame, horizon_days: int, basis: str, max_rows: int = 0):
    from lifelines import CoxPHFitter

    rows = _gap_rows(train, horizon_days, basis)
    max_rows = max_rows or MAX_COX_ROWS
    if len(rows) > max_rows:  # the coefficients settle long before; the fit's cost grows with rows
        rows = rows.sample(max_rows, random_state=0)
    if rows["event"].sum() < 10:
        raise InsufficientDataError("fewer than 10 returns in the training window; use a longer horizon")
    scaler = Standardiser(rows, COX, sorted(rows["channel"].unique()))
    x = scaler.transform(rows)
    x = x.loc[:, x.std() > 0]
    data = x.assign(gap=rows["gap"].to_numpy(), event=rows["event"].to_numpy(), entry=rows["entry"].to_numpy())
    model = CoxPHFitter(penalizer=0.05)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(data, duration_col="gap", event_col="event", entry_col="entry")
    except Exception as exc:  # lifelines raises several convergence error types
        raise ConvergenceError(f"the Cox model did not converge ({exc}); try a longer horizon") from exc
    return model, scaler, list(x.columns), data


def proportional_hazards_test(model, data: pd.DataFrame, *, duration: str = "gap", event: str = "event",
                              entry: str | None = "entry", time_transform: str = "rank") -> pd.DataFrame:
    """Grambsch-Therneau test of each covariate's proportional hazard, for left-truncated data too.

    lifelines' ``proportional_hazard_test`` refuses a model fitted with an entry column (it cannot
    compute residuals for one), which the risk list's model always is. This computes the same
    statistic: Schoenfeld residuals with Efron ties over the risk set at each event time (subjects
    that entered before it and had not left), scaled by the model's variance, correlated with
    the event times (``rank``: their average rank; ``identity``: the times themselves).

    Returns ``covariate, statistic, p`` (one degree of freedom each); a small p means the
    covariate's effect changes with time.
    """
    from scipy.stats import chi2, rankdata

    if time_transform not in ("rank", "identity"):
        raise ValueError(f"time_transform is 'rank' or 'identity', not {time_transform!r}")
    columns = list(model.params_.index)
    x = data[columns].to_numpy(dtype=float)
    times = data[duration].to_numpy(dtype=float)
    observed = data[event].to_numpy().astype(bool)
    if not observed.any():
        raise InsufficientDataError("no events to test proportional hazards on")
    entries = data[entry].to_numpy(dtype=float) if entry else np.full(len(data), -np.inf)
    beta = model.params_.to_numpy()
    eta = x @ beta
    phi = np.exp(eta - eta.max())  # a common factor cancels in every weighted mean
    phi_x = phi[:, None] * x
    residuals, event_times = [], []
    for t in np.unique(times[observed]):
        at_risk = (entries < t) & (times >= t)
        dying = observed & (times == t)
        ties = int(dying.sum())
        share = np.arange(ties)[:, None] / ties  # Efron: the tied deaths leave the risk set in equal parts
        numerator = phi_x[at_risk].sum(0) - share * phi_x[dying].sum(0)
        denominator = phi[at_risk].sum() - share[:, 0] * phi[dying].sum()
        expected = (numerator / denominator[:, None]).mean(0)
        residuals.append(x[dying] - expected)
        event_times.append(np.full(ties, t))
    residuals, event_times = np.vstack(residuals), np.concatenate(event_times)
    deaths = len(event_times)
    scaled = deaths * residuals @ model.variance_matrix_.to_numpy()
    g = rankdata(event_times) if time_transform == "rank" else event_times
    g = g - g.mean()
    statistic = (g @ scaled) ** 2 / (deaths * model.standard_errors_.to_numpy() ** 2 * (g ** 2).sum())
    return pd.DataFrame({"covariate": columns, "statistic": statistic, "p": chi2.sf(statistic, 1)})


def _cox_churn(model, scaler, columns, frame: pd.DataFrame, horizon_days: int, basis: str) -> np.ndarray:
    """P(no return within ``horizon_days``) given the days already away."""
    elapsed = (frame["recency"] if basis == "activity" else frame["purchase_recency"]).astype(float).to_numpy() - 0.5
    x = scaler.transform(frame)[columns]
    survival = model.predict_survival_function(x, times=[float(horizon_days)], conditional_after=elapsed)
    return np.clip(survival.to_numpy().ravel(), 0.0, 1.0)


# --- evaluation ---------------------------------------------------------------------------------

def _split(con: duckdb.DuckDBPyConnection, cutoff: date, horizon_days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    end = last_day(con)
    if cutoff + timedelta(days=horizon_days) > end + timedelta(days=1):
        latest = end + timedelta(days=1) - timedelta(days=horizon_days)
        raise PondError(f"the {horizon_days} days after {cutoff} go past the data (last day {end}); "
                        f"use --cutoff {latest} or earlier")
    train = features(con, cutoff - timedelta(days=horizon_days), horizon_days)
    test = features(con, cutoff, horizon_days)
    if train.empty or test.empty:
        raise InsufficientDataError("too little activity before the cutoff; choose a later cutoff")
    return train, test


def evaluate_churn(con: duckdb.DuckDBPyConnection, cutoff: date, *, horizon_days: int = 30) -> dict:
    """Churn = no purchase in ``horizon_days`` after ``cutoff``, among users who bought before it.

    Models are trained at ``cutoff - horizon_days`` and scored at ``cutoff``. ``recency`` ranks by
    days since the last purchase (a one-feature logistic regression, so it has a Brier score too).
    """
    train, test = _split(con, cutoff, horizon_days)
    train, test = train[train["last_purchase"].notna()].copy(), test[test["last_purchase"].notna()].copy()
    if len(test) < 20 or len(train) < 20:
        raise InsufficientDataError(f"only {len(test)} buyers before {cutoff}; choose a later cutoff")
    for frame in (train, test):
        frame["churned"] = ~frame["bought_after"]
    y = test["churned"].to_numpy()
    if len(np.unique(y)) < 2:
        raise InsufficientDataError("every buyer had the same outcome after the cutoff; try another horizon")
    scores = {}
    base, base_scaler = _fit_logistic(train, "churned", ("log_purchase_recency",))
    scores["recency"] = base.predict_proba(base_scaler.transform(test))[:, 1]
    model, scaler = _fit_logistic(train, "churned", LOGISTIC)
    scores["logistic"] = model.predict_proba(scaler.transform(test))[:, 1]
    cox, cox_scaler, columns, _ = _fit_cox(train, horizon_days, "purchase")
    scores["cox"] = _cox_churn(cox, cox_scaler, columns, test, horizon_days, "purchase")
    result = {"cutoff": cutoff.isoformat(), "horizon_days": horizon_days, "users": int(len(test)),
              "churn_rate": round(float(y.mean()), 4), "models": {}}
    for name, score in scores.items():
        result["models"][name] = {"auc": round(float(roc_auc_score(y, score)), 4),
                                  "brier": round(float(brier_score_loss(y, score)), 4)}
    from lifelines.utils import concordance_index

    rows = _gap_rows(test.assign(next_purchase=test["next_purchase"]), horizon_days, "purchase")
    result["models"]["cox"]["c_index"] = round(float(concordance_index(rows["gap"], scores["cox"], rows["event"])), 4)
    return result


# --- risk list and propensity -------------------------------------------------------------------

@dataclass
class RiskResult:
    risk: pd.DataFrame            # user_id, risk, band, drivers, days_away, channel
    hazard_ratios: pd.DataFrame   # feature, hazard_ratio, low, high, p
    concordance: float
    ph_warning: str | None
    horizon_days: int
    as_of: date


def _band(risk: np.ndarray) -> np.ndarray:
    return np.select([risk >= BANDS[0][1], risk >= BANDS[1][1]], [BANDS[0][0], BANDS[1][0]], BANDS[2][0])


def churn_risk(con: duckdb.DuckDBPyConnection, *, horizon_days: int = 30, inactivity_days: int = 30) -> RiskResult:
    """Currently active users ranked by the chance of no activity in the next ``horizon_days``."""
    from lifelines.utils import concordance_index

    cutoff = last_day(con) + timedelta(days=1)
    train = features(con, cutoff - timedelta(days=horizon_days), horizon_days)
    now = features(con, cutoff, horizon_days)
    if train.empty or now.empty:
        raise InsufficientDataError(f"less than {horizon_days} days of activity; shorten the horizon")
    # one model, fitted on 70% of the training users; its concordance is measured on the other 30%
    # (at most MAX_CONCORDANCE_ROWS of them: the estimate's spread is already about 0.005 there)
    rng = np.random.default_rng(0)
    held = rng.random(len(train)) < 0.3
    model, scaler, columns, fitted = _fit_cox(train[~held], horizon_days, "activity")
    held_out = train[held]
    if len(held_out) > MAX_CONCORDANCE_ROWS:
        held_out = held_out.sample(MAX_CONCORDANCE_ROWS, random_state=0)
    rows = _gap_rows(held_out, horizon_days, "activity")
    held_risk = _cox_churn(model, scaler, columns, held_out, horizon_days, "activity")
    concordance = float(concordance_index(rows["gap"], held_risk, rows["event"]))
    check = proportional_hazards_test(model, fitted)
    failing = check[check["p"] < 0.01].sort_values("statistic", ascending=False)["covariate"]
    ph_warning = None
    if len(failing):
        names = [LABELS.get(str(n), str(n)) for n in failing]
        ph_warning = (f"The effect of {', '.join(names[:3])} changes with time away, so the model averages "
                      "it: read its hazard ratio as a typical effect, not an exact one.")
    active = now[now["recency"] < inactivity_days].copy()
    risk = np.round(_cox_churn(model, scaler, columns, active, horizon_days, "activity"), 4)  # banded as shown
    x = scaler.transform(active)[columns].to_numpy()
    contributions = -x * model.params_[columns].to_numpy()  # lower return hazard = higher churn risk
    names = np.array([LABELS.get(c, c) for c in columns], dtype=object)
    order = np.argsort(-contributions, axis=1)[:, :2]
    strongest = np.take_along_axis(contributions, order, axis=1)
    drivers = "away " + active["recency"].astype(int).astype(str).to_numpy(dtype=object) + " days"
    for rank in range(order.shape[1]):  # the two strongest features that raise the risk noticeably
        drivers = drivers + np.where(strongest[:, rank] > 0.1, "; " + names[order[:, rank]], "")
    frame = pd.DataFrame({"user_id": active["user_id"].to_numpy(), "risk": risk, "band": _band(risk),
                          "drivers": drivers, "days_away": active["recency"].to_numpy(),
                          "channel": active["channel"].to_numpy()})
    frame = frame.sort_values(["risk", "user_id"], ascending=[False, True], ignore_index=True)
    summary = model.summary
    ratios = pd.DataFrame({"feature": [LABELS.get(str(i), str(i)) for i in summary.index],
                           "hazard_ratio": summary["exp(coef)"].to_numpy(),
                           "low": summary["exp(coef) lower 95%"].to_numpy(),
                           "high": summary["exp(coef) upper 95%"].to_numpy(), "p": summary["p"].to_numpy()})
    return RiskResult(frame, ratios, round(concordance, 4), ph_warning, horizon_days, cutoff - timedelta(days=1))


@dataclass
class PropensityResult:
    scores: pd.DataFrame          # user_id, propensity, band
    auc: float
    calibration: pd.DataFrame     # bin, predicted, observed, users
    coefficients: pd.DataFrame    # feature, weight
    horizon_days: int


def purchase_propensity(con: duckdb.DuckDBPyConnection, *, horizon_days: int = 30) -> PropensityResult:
    """P(buys within ``horizon_days``) for users active in the last 90 days, with a time-split check."""
    cutoff = last_day(con) + timedelta(days=1)
    check_train, check_test = _split(con, cutoff - timedelta(days=horizon_days), horizon_days)
    model, scaler = _fit_logistic(check_train, "bought_after", LOGISTIC)
    predicted = model.predict_proba(scaler.transform(check_test))[:, 1]
    observed = check_test["bought_after"].to_numpy()
    if len(np.unique(observed)) < 2:
        raise InsufficientDataError("nobody (or everybody) bought in the check window; try another horizon")
    auc = float(roc_auc_score(observed, predicted))
    bins = np.minimum((predicted * 10).astype(int), 9)
    calibration = (pd.DataFrame({"bin": bins, "predicted": predicted, "observed": observed.astype(float)})
                   .groupby("bin").agg(predicted=("predicted", "mean"), observed=("observed", "mean"),
                                       users=("observed", "size")).reset_index())
    # the model for today: trained on the last complete window (the check's test rows), applied to
    # everyone active lately
    now = features(con, cutoff, horizon_days)
    model, scaler = _fit_logistic(check_test, "bought_after", LOGISTIC)
    train = check_test
    recent = now[now["recency"] < 90]
    scores = np.round(model.predict_proba(scaler.transform(recent))[:, 1], 4)
    frame = pd.DataFrame({"user_id": recent["user_id"].to_numpy(), "propensity": scores,
                          "band": _band(scores)}).sort_values(["propensity", "user_id"], ascending=[False, True],
                                                              ignore_index=True)
    coefficients = pd.DataFrame({"feature": [LABELS.get(c, c) for c in scaler.transform(train.head(1)).columns],
                                 "weight": model.coef_[0]})
    return PropensityResult(frame, round(auc, 4), calibration, coefficients, horizon_days)


# --- scores for the segment builder ---------------------------------------------------------------

def ensure_scores(con: duckdb.DuckDBPyConnection, *, horizon_days: int = 30) -> None:
    """Keep ``user_scores`` (churn risk and propensity bands) in step with the data version."""
    current = str(data_version(con))
    stored = con.execute("select value from meta where key = 'scores_version'").fetchall()
    if stored and stored[0][0] == current:
        return
    # the same fits as the Churn page's, kept per version: whichever asks first pays for them
    risk = stored_churn_risk(con, horizon_days=horizon_days).risk[["user_id", "risk", "band"]]
    propensity = stored_purchase_propensity(con, horizon_days=horizon_days).scores
    scores = risk.rename(columns={"band": "churn_band"}).merge(
        propensity.rename(columns={"band": "propensity_band"}), on="user_id", how="outer")
    con.execute("begin transaction")
    try:
        con.execute("delete from user_scores")
        con.register("new_scores", scores[["user_id", "risk", "churn_band", "propensity", "propensity_band"]])
        con.execute("insert into user_scores select * from new_scores")
        con.unregister("new_scores")
        con.execute("insert or replace into meta values ('scores_version', ?)", [current])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


# --- results kept per warehouse version -----------------------------------------------------------

#: One computation of a stored result at a time in a process: a page asking while the dashboard
#: computes it in the background waits, then loads it.
_COMPUTING = threading.Lock()


def _stored(con: duckdb.DuckDBPyConnection, name: str, compute, to_parts, from_parts):
    from engine.results import data_stamp, load_result, save_result, warehouse_file

    warehouse_path = warehouse_file(con)
    if warehouse_path is None:  # an in-memory database has nowhere to keep it
        return compute()
    with _COMPUTING:
        version, stamp = data_version(con), data_stamp(con)
        loaded = load_result(warehouse_path, name, version, stamp)
        if loaded is not None:
            return from_parts(*loaded)
        result = compute()
        try:
            save_result(warehouse_path, name, version, *to_parts(result), stamp=stamp)
        except OSError:  # a folder we cannot write to costs the next reader the computation, nothing else
            logging.getLogger("pond.engine").exception("could not store %s beside %s", name, warehouse_path)
        return result


def stored_churn_risk(con: duckdb.DuckDBPyConnection, *, horizon_days: int = 30,
                      inactivity_days: int = 30) -> RiskResult:
    """:func:`churn_risk`, computed once per warehouse version and kept beside the warehouse."""
    def to_parts(r: RiskResult):
        return ({"concordance": r.concordance, "ph_warning": r.ph_warning, "horizon_days": r.horizon_days,
                 "as_of": r.as_of.isoformat()}, {"risk": r.risk, "hazard_ratios": r.hazard_ratios})

    def from_parts(values: dict, frames: dict) -> RiskResult:
        return RiskResult(frames["risk"], frames["hazard_ratios"], values["concordance"], values["ph_warning"],
                          values["horizon_days"], date.fromisoformat(values["as_of"]))

    return _stored(con, f"churn-risk-h{int(horizon_days)}-i{int(inactivity_days)}",
                   lambda: churn_risk(con, horizon_days=horizon_days, inactivity_days=inactivity_days),
                   to_parts, from_parts)


def stored_purchase_propensity(con: duckdb.DuckDBPyConnection, *, horizon_days: int = 30) -> PropensityResult:
    """:func:`purchase_propensity`, computed once per warehouse version and kept beside the warehouse."""
    def to_parts(r: PropensityResult):
        return ({"auc": r.auc, "horizon_days": r.horizon_days},
                {"scores": r.scores, "calibration": r.calibration, "coefficients": r.coefficients})

    def from_parts(values: dict, frames: dict) -> PropensityResult:
        return PropensityResult(frames["scores"], values["auc"], frames["calibration"], frames["coefficients"],
                                values["horizon_days"])

    return _stored(con, f"propensity-h{int(horizon_days)}",
                   lambda: purchase_propensity(con, horizon_days=horizon_days), to_parts, from_parts)


def stored_churn_evaluation(con: duckdb.DuckDBPyConnection, *, horizon_days: int = 30) -> dict:
    """:func:`evaluate_churn` at the latest cut-off with a full horizon after it, kept per version."""
    def compute() -> dict:
        cutoff = last_day(con) + timedelta(days=1) - timedelta(days=horizon_days)
        return evaluate_churn(con, cutoff, horizon_days=horizon_days)

    return _stored(con, f"churn-evaluation-h{int(horizon_days)}", compute,
                   lambda r: (r, {}), lambda values, frames: values)

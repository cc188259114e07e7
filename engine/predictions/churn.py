"""Churn: a Cox model of the gap to the next visit, risk lists and purchase propensity.

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

How far to trust them
---------------------
- A training cut must leave at least a horizon of history before it, users of both outcomes and
  days away that vary; when one cut cannot teach, earlier cuts are pooled (a rolling origin), and
  when even that fails the model refuses, naming the longest horizon the data supports.
- Recency baselines are not fitted: they rank by days away as they stand (a monotone calibration
  gives them probabilities), so they can never come out inverted.
- The at-risk list and propensity are backtested at the last cut whose outcome is known, against
  their recency baseline, and rank by recency instead when their model does not beat it.
"""

from __future__ import annotations

import logging
import threading
import warnings
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

from engine.errors import ConvergenceError, InsufficientDataError, PondError
from engine.store import backend
from engine.store.warehouse import data_version, run_query

BASES = ("activity", "purchase")
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


# --- training cuts that can learn, and recency baselines -------------------------------------------

#: Fewest users of each outcome (churned or not, bought or not) a training set needs.
MIN_OUTCOME_USERS = 10
#: Cuts a rolling origin pools at most (the latest one included).
MAX_TRAINING_CUTS = 4
#: Days since the last purchase given to users who never bought: they rank after every buyer.
NEVER_BOUGHT_DAYS = 100_000
#: The propensity list scores users active in this many days up to the cut.
RECENT_DAYS = 90


def history_start(con: duckdb.DuckDBPyConnection) -> date:
    """The first day of the dense history (stray early stamps do not count; see the query)."""
    from engine.behaviour.metrics import history_start as dense_start

    start = dense_start(con)
    if start is None:
        raise InsufficientDataError("the warehouse holds no activity yet; import events or build the demo")
    return start


def longest_list_horizon(con: duckdb.DuckDBPyConnection) -> int:
    """The longest horizon the at-risk and propensity lists can be backtested at (0: none)."""
    try:
        return max(0, _longest_horizon(history_start(con), last_day(con)))
    except InsufficientDataError:
        return 0


def _longest_horizon(start: date, end: date, cutoff: date | None = None) -> int:
    """The longest horizon whose training cut keeps at least a horizon of history before it.

    With a test ``cutoff`` the training cut is ``cutoff - H`` and the label window must end by the
    last day; without one the test cut is itself the latest with a full window (``end + 1 - H``),
    so the data must hold three horizons.
    """
    if cutoff is None:
        return ((end + timedelta(days=1)) - start).days // 3
    return max(0, min((cutoff - start).days // 2, (end + timedelta(days=1) - cutoff).days))


def _require_history(start: date, training_cut: date, horizon_days: int, longest: int, where: str) -> None:
    history = (training_cut - start).days
    if history >= horizon_days:
        return
    advice = (f"the longest horizon the data supports {where} is {longest} days: shorten the horizon"
              if longest >= 1 else f"no horizon fits {where}: choose a later cutoff or import more history")
    raise InsufficientDataError(
        f"too little activity before the cutoff: a {horizon_days}-day horizon is learnt at {training_cut}, which "
        f"leaves {max(history, 0)} days of history (from {start}), fewer than the horizon; {advice}")


def _recency_days(frame: pd.DataFrame, basis: str) -> np.ndarray:
    """Days since the last visit (``activity``) or purchase (``purchase``; never bought: after every buyer)."""
    if basis == "activity":
        return frame["recency"].to_numpy(dtype=float)
    days = frame["purchase_recency"].to_numpy(dtype=float)
    return np.where(np.isnan(days), NEVER_BOUGHT_DAYS + frame["recency"].to_numpy(dtype=float), days)


def _unlearnable(frame: pd.DataFrame, label: str, basis: str) -> str | None:
    """Why a training set cannot teach a model (None when it can)."""
    positive = int(frame[label].sum()) if len(frame) else 0
    negative = len(frame) - positive
    if min(positive, negative) < MIN_OUTCOME_USERS:
        return (f"{positive:,} users {label.replace('_', ' ')} and {negative:,} did not (at least "
                f"{MIN_OUTCOME_USERS} of each are needed)")
    if np.unique(_recency_days(frame, basis)).size < 3:
        return "every user was last seen on one of two days (days away do not vary)"
    return None


def _training_set(con: duckdb.DuckDBPyConnection, start: date, latest: date, horizon_days: int, *, label: str,
                  basis: str, keep, cache: dict, longest: int) -> tuple[pd.DataFrame, list[date]]:
    """Training rows at the latest cut ``latest`` (its label window ends by ``latest + horizon``).

    When that cut has too few users of an outcome, or days away that hardly vary, earlier cuts are
    pooled with it (a rolling origin, half a horizon apart, each with a horizon of history before
    it and its label window fully observed) until the pool can teach; then it refuses.
    """
    step = max(1, -(-horizon_days // 2))
    cuts, parts, problem = [], [], "no user was active before it"
    for k in range(MAX_TRAINING_CUTS):
        cut = latest - timedelta(days=k * step)
        if (cut - start).days < horizon_days:
            break
        if cut not in cache:
            cache[cut] = features(con, cut, horizon_days)
        part = keep(cache[cut]) if len(cache[cut]) else cache[cut]
        if part.empty:
            break
        cuts.append(cut)
        parts.append(part)
        pooled = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
        problem = _unlearnable(pooled, label, basis)
        if problem is None:
            return pooled, cuts
    pooled_over = f" pooled over {len(cuts)} cuts ({', '.join(c.isoformat() for c in cuts)})" if len(cuts) > 1 else ""
    raise InsufficientDataError(
        f"too little to learn from before {latest}: {problem}{pooled_over}; try another horizon (the history "
        f"supports at most {longest} days) or import more history")


def _recency_calibration(days: np.ndarray, outcome: np.ndarray, *, increasing: bool):
    """A monotone map from days away to a probability, fitted on training rows: the baseline's
    Brier score and the list's probabilities when it serves. It cannot reverse the ranking."""
    from sklearn.isotonic import IsotonicRegression

    return IsotonicRegression(increasing=increasing, out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
        days, outcome.astype(float))


def _reliability(predicted: np.ndarray, observed: np.ndarray) -> pd.DataFrame:
    """Mean predicted and observed rate per tenth of the predicted probability."""
    bins = np.minimum((predicted * 10).astype(int), 9)
    return (pd.DataFrame({"bin": bins, "predicted": predicted, "observed": observed.astype(float)})
            .groupby("bin").agg(predicted=("predicted", "mean"), observed=("observed", "mean"),
                                users=("observed", "size")).reset_index())


@dataclass
class Backtest:
    """How a list's model ranked users at the last cut whose outcome is known, against recency.

    The model was fitted at ``training_cuts`` (each with its label window before ``test_cut``) and
    scored the users at ``test_cut``; their outcome is what they did in the horizon from it. The
    recency baseline ranks by days away as they stand, unfitted.
    """
    model: str                    # cox or logistic
    auc: float
    baseline_auc: float
    brier: float
    baseline_brier: float         # of recency through a monotone calibration fitted at the training cuts
    calibration: pd.DataFrame     # bin, predicted, observed, users: the model's reliability
    test_cut: date
    horizon_days: int
    training_cuts: list[date]
    serving_cuts: list[date]      # where the served list's model was fitted
    users: int
    outcome_rate: float
    served: str                   # what ranks the list: the model, or "recency" when it did not beat it

    @property
    def beats_baseline(self) -> bool:
        return self.auc > self.baseline_auc

    @property
    def label_window(self) -> tuple[date, date]:
        return self.test_cut, self.test_cut + timedelta(days=self.horizon_days - 1)

    def values(self) -> dict:
        return {"model": self.model, "auc": self.auc, "baseline_auc": self.baseline_auc, "brier": self.brier,
                "baseline_brier": self.baseline_brier, "test_cut": self.test_cut.isoformat(),
                "horizon_days": self.horizon_days, "training_cuts": [c.isoformat() for c in self.training_cuts],
                "serving_cuts": [c.isoformat() for c in self.serving_cuts], "users": self.users,
                "outcome_rate": self.outcome_rate, "served": self.served}

    @classmethod
    def from_values(cls, values: dict, calibration: pd.DataFrame) -> Backtest:
        return cls(values["model"], values["auc"], values["baseline_auc"], values["brier"], values["baseline_brier"],
                   calibration, date.fromisoformat(values["test_cut"]), values["horizon_days"],
                   [date.fromisoformat(c) for c in values["training_cuts"]],
                   [date.fromisoformat(c) for c in values["serving_cuts"]], values["users"], values["outcome_rate"],
                   values["served"])


def _backtest(model: str, outcome: np.ndarray, predicted: np.ndarray, baseline_score: np.ndarray,
              baseline_probability: np.ndarray, test_cut: date, horizon_days: int, training_cuts: list[date],
              serving_cuts: list[date]) -> Backtest:
    auc = round(float(roc_auc_score(outcome, predicted)), 4)
    baseline_auc = round(float(roc_auc_score(outcome, baseline_score)), 4)
    return Backtest(model, auc, baseline_auc, round(float(brier_score_loss(outcome, predicted)), 4),
                    round(float(brier_score_loss(outcome, baseline_probability)), 4),
                    _reliability(predicted, outcome), test_cut, horizon_days, training_cuts, serving_cuts,
                    int(len(outcome)), round(float(outcome.mean()), 4), model if auc > baseline_auc else "recency")


# --- evaluation ---------------------------------------------------------------------------------

def _buyers(frame: pd.DataFrame) -> pd.DataFrame:
    buyers = frame[frame["last_purchase"].notna()]
    return buyers.assign(churned=~buyers["bought_after"])


def evaluate_churn(con: duckdb.DuckDBPyConnection, cutoff: date | None = None, *, horizon_days: int = 30) -> dict:
    """Churn = no purchase in ``horizon_days`` after ``cutoff``, among users who bought before it.

    ``cutoff`` defaults to the latest day with a full horizon after it. Models are trained at
    ``cutoff - horizon_days`` (pooled with earlier cuts when that one alone cannot teach, see
    :func:`_training_set`) and scored at ``cutoff``. ``recency`` ranks by days since the last
    purchase as they stand (its Brier score through a monotone calibration fitted on the training
    rows), so it can never come out inverted. The result names every cut it used, and says which
    fitted model does not beat recency (``beats_recency``, ``warnings``).
    """
    end, start = last_day(con), history_start(con)
    if cutoff is None:
        cutoff = end + timedelta(days=1) - timedelta(days=horizon_days)
        longest, where = _longest_horizon(start, end), "with the latest cutoff"
    else:
        if cutoff + timedelta(days=horizon_days) > end + timedelta(days=1):
            latest = end + timedelta(days=1) - timedelta(days=horizon_days)
            raise PondError(f"the {horizon_days} days after {cutoff} go past the data (last day {end}); "
                            f"use --cutoff {latest} or earlier")
        longest, where = _longest_horizon(start, end, cutoff), f"at cutoff {cutoff}"
    _require_history(start, cutoff - timedelta(days=horizon_days), horizon_days, longest, where)
    train, cuts = _training_set(con, start, cutoff - timedelta(days=horizon_days), horizon_days, label="churned",
                                basis="purchase", keep=_buyers, cache={}, longest=longest)
    test = features(con, cutoff, horizon_days)
    test = _buyers(test) if len(test) else test
    if len(test) < 20:
        raise InsufficientDataError(f"only {len(test)} buyers before {cutoff}; choose a later cutoff")
    y = test["churned"].to_numpy()
    if len(np.unique(y)) < 2:
        raise InsufficientDataError("every buyer had the same outcome after the cutoff; try another horizon")
    days_train, days_test = _recency_days(train, "purchase"), _recency_days(test, "purchase")
    calibration = _recency_calibration(days_train, train["churned"].to_numpy(), increasing=True)
    scores = {"recency": days_test}
    probabilities = {"recency": calibration.predict(days_test)}
    model, scaler = _fit_logistic(train, "churned", LOGISTIC)
    scores["logistic"] = probabilities["logistic"] = model.predict_proba(scaler.transform(test))[:, 1]
    cox, cox_scaler, columns, _ = _fit_cox(train, horizon_days, "purchase")
    scores["cox"] = probabilities["cox"] = _cox_churn(cox, cox_scaler, columns, test, horizon_days, "purchase")
    result = {"cutoff": cutoff.isoformat(), "horizon_days": horizon_days,
              "label_window": [cutoff.isoformat(), (cutoff + timedelta(days=horizon_days - 1)).isoformat()],
              "training_cuts": [c.isoformat() for c in cuts], "history_start": start.isoformat(),
              "users": int(len(test)), "churn_rate": round(float(y.mean()), 4), "models": {}}
    for name, score in scores.items():
        result["models"][name] = {"auc": round(float(roc_auc_score(y, score)), 4),
                                  "brier": round(float(brier_score_loss(y, probabilities[name])), 4)}
    from lifelines.utils import concordance_index

    rows = _gap_rows(test, horizon_days, "purchase")
    result["models"]["cox"]["c_index"] = round(float(concordance_index(rows["gap"], scores["cox"], rows["event"])), 4)
    baseline = result["models"]["recency"]["auc"]
    result["beats_recency"] = {m: result["models"][m]["auc"] > baseline for m in ("logistic", "cox")}
    result["warnings"] = [f"{m} does not beat ranking by days since the last purchase (AUC "
                          f"{result['models'][m]['auc']:.3f} against {baseline:.3f}): rank by recency instead"
                          for m, beats in result["beats_recency"].items() if not beats]
    return result


# --- risk list and propensity -------------------------------------------------------------------

@dataclass
class RiskResult:
    risk: pd.DataFrame            # user_id, risk, band, drivers, days_away, channel
    hazard_ratios: pd.DataFrame   # feature, hazard_ratio, low, high, p
    concordance: float            # of the backtest's model on the users at its test cut
    ph_warning: str | None
    horizon_days: int
    as_of: date
    backtest: Backtest


def _band(risk: np.ndarray) -> np.ndarray:
    return np.select([risk >= BANDS[0][1], risk >= BANDS[1][1]], [BANDS[0][0], BANDS[1][0]], BANDS[2][0])


def _list_cuts(con: duckdb.DuckDBPyConnection, horizon_days: int, what: str) -> tuple[date, date, date, int]:
    """Where a list is scored (the day after the data), its backtest's test cut, the history start
    and the longest horizon; refuses a horizon whose backtest would train without history."""
    end, start = last_day(con), history_start(con)
    apply = end + timedelta(days=1)
    check = apply - timedelta(days=horizon_days)
    longest = _longest_horizon(start, end)
    _require_history(start, check - timedelta(days=horizon_days), horizon_days, longest, f"for {what}")
    return apply, check, start, longest


def _with_churned(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(churned=~frame["active_after"])


def churn_risk(con: duckdb.DuckDBPyConnection, *, horizon_days: int = 30, inactivity_days: int = 30) -> RiskResult:
    """Currently active users ranked by the chance of no activity in the next ``horizon_days``.

    The Cox model is first backtested: fitted at ``check - H`` (the check cut is ``H`` days before the
    end of the data) and scored on the users active at ``check``, against ranking them by days away.
    The served model is fitted at ``check`` and applied to today's active users; when the backtest's
    model did not beat days away, the list ranks by days away instead (``backtest.served``).
    """
    from lifelines.utils import concordance_index

    apply, check, start, longest = _list_cuts(con, horizon_days, "the at-risk list")
    cache: dict = {}
    options = {"label": "churned", "basis": "activity", "keep": _with_churned, "cache": cache, "longest": longest}
    check_train, check_cuts = _training_set(con, start, check - timedelta(days=horizon_days), horizon_days, **options)
    train, cuts = _training_set(con, start, check, horizon_days, **options)
    model, scaler, columns, _ = _fit_cox(check_train, horizon_days, "activity")
    tested = _with_churned(cache[check])
    tested = tested[tested["recency"] < inactivity_days]
    outcome = tested["churned"].to_numpy()
    if len(np.unique(outcome)) < 2:
        raise InsufficientDataError(f"every active user at {check} had the same outcome in the {horizon_days} days "
                                    "after it; try another horizon")
    predicted = _cox_churn(model, scaler, columns, tested, horizon_days, "activity")
    calibrated = check_train[check_train["recency"] < inactivity_days]
    baseline = _recency_calibration(_recency_days(calibrated, "activity"), calibrated["churned"].to_numpy(),
                                    increasing=True)
    days = _recency_days(tested, "activity")
    backtest = _backtest("cox", outcome, predicted, days, baseline.predict(days), check, horizon_days, check_cuts, cuts)
    rows = _gap_rows(tested, horizon_days, "activity")
    concordance = float(concordance_index(rows["gap"], predicted, rows["event"]))

    model, scaler, columns, fitted = _fit_cox(train, horizon_days, "activity")
    check_ph = proportional_hazards_test(model, fitted)
    failing = check_ph[check_ph["p"] < 0.01].sort_values("statistic", ascending=False)["covariate"]
    ph_warning = None
    if len(failing):
        names = [LABELS.get(str(n), str(n)) for n in failing]
        ph_warning = (f"The effect of {', '.join(names[:3])} changes with time away, so the model averages "
                      "it: read its hazard ratio as a typical effect, not an exact one.")
    now = features(con, apply, horizon_days)
    active = now[now["recency"] < inactivity_days].copy() if len(now) else now
    if active.empty:
        raise InsufficientDataError(f"nobody was active in the last {inactivity_days} days")
    drivers = "away " + active["recency"].astype(int).astype(str).to_numpy(dtype=object) + " days"
    if backtest.served == "cox":
        risk = np.round(_cox_churn(model, scaler, columns, active, horizon_days, "activity"), 4)  # banded as shown
        x = scaler.transform(active)[columns].to_numpy()
        contributions = -x * model.params_[columns].to_numpy()  # lower return hazard = higher churn risk
        names = np.array([LABELS.get(c, c) for c in columns], dtype=object)
        order = np.argsort(-contributions, axis=1)[:, :2]
        strongest = np.take_along_axis(contributions, order, axis=1)
        for rank in range(order.shape[1]):  # the two strongest features that raise the risk noticeably
            drivers = drivers + np.where(strongest[:, rank] > 0.1, "; " + names[order[:, rank]], "")
    else:  # the model lost to days away on the backtest: rank by them, calibrated at the serving cuts
        calibrated = train[train["recency"] < inactivity_days]
        ranking = _recency_calibration(_recency_days(calibrated, "activity"), calibrated["churned"].to_numpy(),
                                       increasing=True)
        risk = np.round(ranking.predict(_recency_days(active, "activity")), 4)
    frame = pd.DataFrame({"user_id": active["user_id"].to_numpy(), "risk": risk, "band": _band(risk),
                          "drivers": drivers, "days_away": active["recency"].to_numpy(),
                          "channel": active["channel"].to_numpy()})
    frame = frame.sort_values(["risk", "days_away", "user_id"], ascending=[False, False, True], ignore_index=True)
    summary = model.summary
    ratios = pd.DataFrame({"feature": [LABELS.get(str(i), str(i)) for i in summary.index],
                           "hazard_ratio": summary["exp(coef)"].to_numpy(),
                           "low": summary["exp(coef) lower 95%"].to_numpy(),
                           "high": summary["exp(coef) upper 95%"].to_numpy(), "p": summary["p"].to_numpy()})
    return RiskResult(frame, ratios, round(concordance, 4), ph_warning, horizon_days, apply - timedelta(days=1),
                      backtest)


@dataclass
class PropensityResult:
    scores: pd.DataFrame          # user_id, propensity, band
    auc: float                    # the backtest's model's
    calibration: pd.DataFrame     # bin, predicted, observed, users (the backtest's reliability)
    coefficients: pd.DataFrame    # feature, weight
    horizon_days: int
    backtest: Backtest


def purchase_propensity(con: duckdb.DuckDBPyConnection, *, horizon_days: int = 30) -> PropensityResult:
    """P(buys within ``horizon_days``) for users active in the last 90 days, with a time-split check.

    As :func:`churn_risk`: the logistic regression is backtested at ``check`` (the last cut with a
    known outcome) against ranking by days since the last purchase (never-buyers last), and the
    list ranks by that recency instead when the model did not beat it.
    """
    apply, check, start, longest = _list_cuts(con, horizon_days, "purchase propensity")
    cache: dict = {}
    options = {"label": "bought_after", "basis": "purchase", "keep": lambda f: f, "cache": cache, "longest": longest}
    check_train, check_cuts = _training_set(con, start, check - timedelta(days=horizon_days), horizon_days, **options)
    train, cuts = _training_set(con, start, check, horizon_days, **options)
    model, scaler = _fit_logistic(check_train, "bought_after", LOGISTIC)
    tested = cache[check]
    tested = tested[tested["recency"] < RECENT_DAYS]
    outcome = tested["bought_after"].to_numpy()
    if len(np.unique(outcome)) < 2:
        raise InsufficientDataError("nobody (or everybody) bought in the check window; try another horizon")
    predicted = model.predict_proba(scaler.transform(tested))[:, 1]
    baseline = _recency_calibration(_recency_days(check_train, "purchase"), check_train["bought_after"].to_numpy(),
                                    increasing=False)
    days = _recency_days(tested, "purchase")
    backtest = _backtest("logistic", outcome, predicted, -days, baseline.predict(days), check, horizon_days,
                         check_cuts, cuts)
    # the model for today: trained at the last cut with a complete window, applied to everyone active lately
    model, scaler = _fit_logistic(train, "bought_after", LOGISTIC)
    now = features(con, apply, horizon_days)
    recent = now[now["recency"] < RECENT_DAYS] if len(now) else now
    if recent.empty:
        raise InsufficientDataError(f"nobody was active in the last {RECENT_DAYS} days")
    if backtest.served == "logistic":
        scores = model.predict_proba(scaler.transform(recent))[:, 1]
    else:
        ranking = _recency_calibration(_recency_days(train, "purchase"), train["bought_after"].to_numpy(),
                                       increasing=False)
        scores = ranking.predict(_recency_days(recent, "purchase"))
    scores = np.round(scores, 4)
    frame = pd.DataFrame({"user_id": recent["user_id"].to_numpy(), "propensity": scores,
                          "band": _band(scores)}).sort_values(["propensity", "user_id"], ascending=[False, True],
                                                              ignore_index=True)
    coefficients = pd.DataFrame({"feature": [LABELS.get(c, c) for c in scaler.transform(train.head(1)).columns],
                                 "weight": model.coef_[0]})
    return PropensityResult(frame, backtest.auc, backtest.calibration, coefficients, horizon_days, backtest)


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
    columns = ["user_id", "risk", "churn_band", "propensity", "propensity_band"]
    if backend.dialect(con) == "clickhouse":  # swapped in whole, then the version noted
        from engine.store import chwrites

        chwrites.replace_derived(con, "user_scores", scores[columns], "scores_version", current)
        return
    con.execute("begin transaction")
    try:
        con.execute("delete from user_scores")
        con.register("new_scores", scores[columns])
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


#: Refusals kept like results: the data of a version decides them as it decides a fit.
_REFUSALS = {"InsufficientDataError": InsufficientDataError, "ConvergenceError": ConvergenceError}


@dataclass(frozen=True)
class Keeping:
    """Where, and for which data, results are kept: the warehouse file (None: in memory, nothing is
    kept), its data version and its stamp (see :func:`engine.store.results.data_stamp`)."""
    warehouse_path: Path | None
    version: int
    stamp: str

    @classmethod
    def of(cls, con: duckdb.DuckDBPyConnection) -> Keeping:
        from engine.store.results import data_stamp, warehouse_file

        return cls(warehouse_file(con), data_version(con), data_stamp(con))


#: The tables the stored results read (churn_features, churn_history_start): rollups, not events.
SNAPSHOT_TABLES = ("user_day", "user_day_type", "users")


def rollup_snapshot(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """An in-memory copy of :data:`SNAPSHOT_TABLES`, so that the models can be fitted after the
    warehouse is closed: a writer waiting for the file (a command-line import) gets it at once.
    Copying takes a fraction of what fitting does (rollups hold thousands of rows per day, not events)."""
    snapshot = duckdb.connect(":memory:")
    snapshot.execute("set TimeZone = 'UTC'")
    reader = con.cursor()  # its own result state: the caller's connection may hold an unfetched one
    try:
        for table in SNAPSHOT_TABLES:
            snapshot.register("copied", reader.sql(f"select * from {table}").to_arrow_table())
            snapshot.execute(f"create table {table} as select * from copied")
            snapshot.unregister("copied")
    finally:
        reader.close()
    return snapshot


def _stored(con: duckdb.DuckDBPyConnection, name: str, compute, to_parts, from_parts,
            keeping: Keeping | None = None):
    from engine.store.results import load_result, save_result

    keeping = keeping or Keeping.of(con)
    warehouse_path, version, stamp = keeping.warehouse_path, keeping.version, keeping.stamp
    if warehouse_path is None:  # an in-memory database has nowhere to keep it
        return compute()

    def save(values: dict, frames: dict) -> None:
        try:
            save_result(warehouse_path, name, version, values, frames, stamp=stamp)
        except OSError:  # a folder we cannot write to costs the next reader the computation, nothing else
            logging.getLogger("pond.engine").exception("could not store %s beside %s", name, warehouse_path)

    with _COMPUTING:
        loaded = load_result(warehouse_path, name, version, stamp)
        if loaded is not None:
            values, frames = loaded
            refused = values.get("refused") if isinstance(values, dict) else None
            if isinstance(refused, dict) and refused.get("kind") in _REFUSALS:
                raise _REFUSALS[refused["kind"]](refused["message"])
            try:
                return from_parts(values, frames)
            except (KeyError, TypeError, ValueError):  # stored by an earlier Pond without every part: compute
                pass
        try:
            result = compute()
        except tuple(_REFUSALS.values()) as exc:  # the page and the background thread load the same answer
            save({"refused": {"kind": type(exc).__name__, "message": str(exc)}}, {})
            raise
        save(*to_parts(result))
        return result


def stored_churn_risk(con: duckdb.DuckDBPyConnection, *, horizon_days: int = 30,
                      inactivity_days: int = 30, keeping: Keeping | None = None) -> RiskResult:
    """:func:`churn_risk`, computed once per warehouse version and kept beside the warehouse
    (``keeping``'s, when ``con`` is a :func:`rollup_snapshot` of it)."""
    def to_parts(r: RiskResult):
        return ({"concordance": r.concordance, "ph_warning": r.ph_warning, "horizon_days": r.horizon_days,
                 "as_of": r.as_of.isoformat(), "backtest": r.backtest.values()},
                {"risk": r.risk, "hazard_ratios": r.hazard_ratios, "backtest_calibration": r.backtest.calibration})

    def from_parts(values: dict, frames: dict) -> RiskResult:
        return RiskResult(frames["risk"], frames["hazard_ratios"], values["concordance"], values["ph_warning"],
                          values["horizon_days"], date.fromisoformat(values["as_of"]),
                          Backtest.from_values(values["backtest"], frames["backtest_calibration"]))

    return _stored(con, f"churn-risk-h{int(horizon_days)}-i{int(inactivity_days)}",
                   lambda: churn_risk(con, horizon_days=horizon_days, inactivity_days=inactivity_days),
                   to_parts, from_parts, keeping)


def stored_purchase_propensity(con: duckdb.DuckDBPyConnection, *, horizon_days: int = 30,
                               keeping: Keeping | None = None) -> PropensityResult:
    """:func:`purchase_propensity`, computed once per warehouse version and kept beside the warehouse."""
    def to_parts(r: PropensityResult):
        return ({"auc": r.auc, "horizon_days": r.horizon_days, "backtest": r.backtest.values()},
                {"scores": r.scores, "calibration": r.calibration, "coefficients": r.coefficients})

    def from_parts(values: dict, frames: dict) -> PropensityResult:
        return PropensityResult(frames["scores"], values["auc"], frames["calibration"], frames["coefficients"],
                                values["horizon_days"], Backtest.from_values(values["backtest"], frames["calibration"]))

    return _stored(con, f"propensity-h{int(horizon_days)}",
                   lambda: purchase_propensity(con, horizon_days=horizon_days), to_parts, from_parts, keeping)


def stored_churn_evaluation(con: duckdb.DuckDBPyConnection, *, horizon_days: int = 30,
                            keeping: Keeping | None = None) -> dict:
    """:func:`evaluate_churn` at the latest cut-off with a full horizon after it, kept per version."""
    def from_parts(values: dict, frames: dict) -> dict:
        if "training_cuts" not in values:
            raise KeyError("training_cuts")  # stored before evaluations named their cuts
        return values

    return _stored(con, f"churn-evaluation-h{int(horizon_days)}",
                   lambda: evaluate_churn(con, None, horizon_days=horizon_days), lambda r: (r, {}), from_parts,
                   keeping)

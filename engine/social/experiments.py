"""A/B experiments and coupon campaigns: did the change really work?

Assignments come from the experiments table (the demo, or an imported assignment file) and from
campaign ids of the form ``EXPERIMENT:VARIANT`` on events. Each variant's users are followed from
their assignment to the end of the data:

- conversion (share who purchased) and CTR (clicks / impressions), each with a Wilson 95% interval,
  compared with control by a two-proportion z-test (statsmodels) and a 95% interval for the ratio;
- GMV per user (zeros included), compared by Welch's t-test (scipy) with an interval for the
  difference;
- a sample-ratio-mismatch check (chi-square against the expected split) that flags a broken
  assignment before anyone reads the results;
- a verdict in plain language that only claims what the numbers support (Bonferroni-corrected when
  several treatments are compared with one control).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

import duckdb
import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_effectsize, proportions_ztest

from engine.errors import InsufficientDataError, PondError
from engine.stats import wilson_interval
from engine.store.warehouse import run_composed, run_query

ALPHA = 0.05
SRM_ALPHA = 0.001
CONTROL_NAMES = ("control", "a", "baseline", "original", "对照组")


@dataclass
class ExperimentResult:
    experiment: str
    control: str
    variants: pd.DataFrame  # one row per variant: users, rates with intervals, GMV per user
    comparisons: pd.DataFrame  # one row per treatment and metric: lift, interval, p-value, significant
    srm_p_value: float
    verdict: str

    @property
    def sample_ratio_mismatch(self) -> bool:
        return self.srm_p_value < SRM_ALPHA


def list_experiments(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """``experiment, variants, users, first_assigned, last_assigned``; ``variants`` is a list of names."""
    frame = run_composed(con, "experiment_list", {}, assignments="experiment_assignments")
    frame["variants"] = frame["variants"].map(lambda names: [str(n) for n in names])
    return frame


def _control(variants: list[str], control: str | None) -> str:
    if control is not None:
        if control not in variants:
            raise PondError(f"there is no variant {control!r}; the variants are {', '.join(variants)}")
        return control
    return next((v for v in variants if v.lower() in CONTROL_NAMES), sorted(variants)[0])


def experiment_results(con: duckdb.DuckDBPyConnection, name: str, *, control: str | None = None,
                       expected_split: dict[str, float] | None = None) -> ExperimentResult:
    """Per-variant metrics, comparisons with control, the SRM check and a verdict.

    Parameters
    ----------
    control
        The control variant (default: one named control/A/baseline, else the first by name).
    expected_split
        Intended share of users per variant (default: equal).
    """
    users = run_composed(con, "experiment_users", {"experiment": name}, assignments="experiment_assignments")
    if users.empty:
        raise PondError(f"there is no experiment named {name!r}; `python -m engine query experiments` lists them")
    variants = sorted(users["variant"].unique())
    if len(variants) < 2:
        raise InsufficientDataError(f"experiment {name!r} has a single variant ({variants[0]}); nothing to compare")
    control = _control(variants, control)
    table = _variant_table(users)
    comparisons = _comparisons(users, table, control)
    srm = _srm_p_value(table, expected_split)
    verdict = _verdict(name, control, comparisons, srm, len(variants) - 1)
    return ExperimentResult(name, control, table, comparisons, srm, verdict)


def _variant_table(users: pd.DataFrame) -> pd.DataFrame:
    grouped = users.groupby("variant")
    table = pd.DataFrame({
        "users": grouped.size(),
        "converters": grouped["purchases"].apply(lambda s: int((s > 0).sum())),
        "impressions": grouped["impressions"].sum(),
        "clicks": grouped["clicks"].sum(),
        "gmv": grouped["gmv"].sum(),
        "gmv_per_user": grouped["gmv"].mean(),
        "gmv_sd": grouped["gmv"].std(ddof=1),
    }).reset_index()
    table["conversion"] = table["converters"] / table["users"]
    table["conversion_low"], table["conversion_high"] = wilson_interval(table["converters"], table["users"])
    table["ctr"] = table["clicks"] / table["impressions"].where(table["impressions"] > 0)
    table["ctr_low"], table["ctr_high"] = wilson_interval(table["clicks"], table["impressions"])
    half = stats.t.ppf(0.975, (table["users"] - 1).clip(lower=1)) * table["gmv_sd"] / np.sqrt(table["users"])
    table["gmv_per_user_low"], table["gmv_per_user_high"] = table["gmv_per_user"] - half, table["gmv_per_user"] + half
    return table


def _proportion_comparison(hits_t: int, n_t: int, hits_c: int, n_c: int) -> dict:
    if min(n_t, n_c) == 0 or hits_c == 0 and hits_t == 0:
        return {"lift": math.nan, "lift_low": math.nan, "lift_high": math.nan, "p_value": math.nan}
    _, p_value = proportions_ztest([hits_t, hits_c], [n_t, n_c])
    low, high = confint_proportions_2indep(hits_t, n_t, hits_c, n_c, compare="ratio", method="log-adjusted")
    lift = (hits_t / n_t) / (hits_c / n_c) - 1 if hits_c else math.inf
    return {"lift": lift, "lift_low": low - 1, "lift_high": high - 1, "p_value": float(p_value)}


def _comparisons(users: pd.DataFrame, table: pd.DataFrame, control: str) -> pd.DataFrame:
    rows = []
    base = table.set_index("variant").loc[control]
    control_gmv = users.loc[users["variant"] == control, "gmv"]
    for variant in table["variant"]:
        if variant == control:
            continue
        row = table.set_index("variant").loc[variant]
        for metric, hits, n in (("conversion", "converters", "users"), ("ctr", "clicks", "impressions")):
            rows.append({"variant": variant, "metric": metric,
                         **_proportion_comparison(int(row[hits]), int(row[n]), int(base[hits]), int(base[n]))})
        gmv = users.loc[users["variant"] == variant, "gmv"]
        test = stats.ttest_ind(gmv, control_gmv, equal_var=False)
        low, high = test.confidence_interval(0.95)
        mean_c = control_gmv.mean()
        rows.append({"variant": variant, "metric": "gmv_per_user",
                     "lift": gmv.mean() / mean_c - 1 if mean_c else math.nan,
                     "lift_low": low / mean_c if mean_c else math.nan,
                     "lift_high": high / mean_c if mean_c else math.nan,
                     "p_value": float(test.pvalue)})
    frame = pd.DataFrame(rows)
    treatments = max(1, table.shape[0] - 1)
    frame["significant"] = frame["p_value"] < ALPHA / treatments  # Bonferroni over treatments
    return frame


def _srm_p_value(table: pd.DataFrame, expected: dict[str, float] | None) -> float:
    observed = table["users"].to_numpy(dtype=float)
    if expected:
        weights = np.array([expected.get(v, 0.0) for v in table["variant"]], dtype=float)
        if weights.sum() <= 0:
            raise PondError("the expected split must give the variants positive shares")
        weights = weights / weights.sum()
    else:
        weights = np.full(len(observed), 1 / len(observed))
    return float(stats.chisquare(observed, observed.sum() * weights).pvalue)


def _verdict(name: str, control: str, comparisons: pd.DataFrame, srm: float, treatments: int) -> str:
    if srm < SRM_ALPHA:
        return (f"Do not trust {name} yet: the variants' sizes differ from the intended split far more than "
                f"chance allows (sample ratio mismatch, p = {srm:.1e}). Check how users were assigned.")
    conversion = comparisons[comparisons["metric"] == "conversion"]
    won = conversion[conversion["significant"]]
    corrected = f" (p below {ALPHA / treatments:.3f}, corrected for {treatments} comparisons)" if treatments > 1 else ""
    if won.empty:
        spans = ", ".join(f"{r.variant} {r.lift_low:+.1%} to {r.lift_high:+.1%}" for r in conversion.itertuples())
        return (f"No detectable difference in conversion against {control}. The data are consistent with lifts of "
                f"{spans}; a smaller effect may exist but this sample cannot show it.")
    parts = [f"{r.variant} {'raises' if r.lift > 0 else 'lowers'} conversion by {abs(r.lift):.1%} against "
             f"{control} (95% interval {r.lift_low:+.1%} to {r.lift_high:+.1%}, p = {r.p_value:.3g})"
             for r in won.itertuples()]
    return "; ".join(parts) + corrected + ". Other metrics are shown below; judge them on their own intervals."


def sample_size(baseline_rate: float, relative_lift: float, *, alpha: float = ALPHA, power: float = 0.8,
                variants: int = 2, daily_users: float | None = None) -> dict:
    """Users per variant to detect ``relative_lift`` on a conversion rate, and the days it takes."""
    if not 0 < baseline_rate < 1:
        raise PondError("the baseline conversion rate must be between 0 and 1 (e.g. 0.05 for 5%)")
    target = baseline_rate * (1 + relative_lift)
    if relative_lift == 0 or not 0 < target < 1:
        raise PondError("the lift to detect must be non-zero and keep the rate between 0% and 100%")
    effect = abs(proportion_effectsize(target, baseline_rate))
    per_variant = math.ceil(NormalIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=1.0))
    days = math.ceil(per_variant * variants / daily_users) if daily_users else None
    return {"per_variant": per_variant, "total": per_variant * variants, "days": days}


def campaign_effect(con: duckdb.DuckDBPyConnection, *, horizon_days: int = 30) -> pd.DataFrame:
    """Per coupon campaign: issued, redeemed, redemption rate, and redeemers' GMV and repurchase rate
    against the issued users who did not redeem (a comparable group: they got the same coupon)."""
    frame = run_query(con, "campaign_effect", {"horizon": timedelta(days=horizon_days)})
    frame["gmv_lift"] = frame["gmv_per_redeemer"] / frame["gmv_per_non_redeemer"].where(
        frame["gmv_per_non_redeemer"] > 0) - 1
    return frame


def campaign_daily(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Coupons issued and redeemed per business day and campaign."""
    from engine.store.warehouse import business_timezone

    return run_query(con, "campaign_daily", {"tz": business_timezone(con)})

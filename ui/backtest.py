"""How far to trust a churn list: the backtest it was checked on, shown right above it."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from engine.predictions.churn import Backtest
from ui import charts

MODEL_NAMES = {"cox": "The Cox model", "logistic": "The logistic regression"}


def backtest_panel(backtest: Backtest, *, baseline: str, predicted: str, observed: str, key: str) -> None:
    """AUC against the recency baseline, the cut dates, the reliability plot, and a verdict.

    ``baseline`` names what recency ranks by ("days since the last visit"); ``predicted`` and
    ``observed`` title the reliability plot's axes.
    """
    first, last = backtest.label_window
    model = MODEL_NAMES.get(backtest.model, backtest.model)
    figures = f"AUC {backtest.auc:.3f} against {backtest.baseline_auc:.3f} for ranking by {baseline}"
    if backtest.served == backtest.model:
        st.success(f"{model} beats ranking by {baseline} on the last {backtest.horizon_days} days whose outcome is "
                   f"known: {figures}.", icon=":material/verified:")
    else:
        st.warning(f"{model} does **not** beat ranking by {baseline} on the last {backtest.horizon_days} days whose "
                   f"outcome is known ({figures}), so the list below ranks by {baseline} instead (its "
                   "probabilities from a monotone calibration).", icon=":material/warning:")
    left, right = st.columns([1, 1.3])
    with left:
        cards = st.columns(2)
        cards[0].metric("ROC-AUC on a time split", f"{backtest.auc:.3f}",
                        help=f"{model}, fitted before {backtest.test_cut}, ranking the users of that day by "
                             "what they did next (0.5 = chance, 1 = perfect).")
        cards[1].metric("Recency baseline", f"{backtest.baseline_auc:.3f}",
                        help=f"Ranking the same users by {baseline}, as it stands: nothing fitted.")
        st.caption(
            f"**Cuts.** Checked: fitted on users as of {_dates(backtest.training_cuts)} (with what they did in the "
            f"{backtest.horizon_days} days from each), tested on {backtest.users:,} users as of {backtest.test_cut} "
            f"and what they did from {first} to {last} ({backtest.outcome_rate:.0%} did). "
            f"The list: fitted as of {_dates(backtest.serving_cuts)}, scored as of "
            f"{backtest.test_cut + timedelta(days=backtest.horizon_days)}. "
            f"Brier score {backtest.brier:.3f} (recency, calibrated: {backtest.baseline_brier:.3f}).")
    with right:
        st.plotly_chart(charts.calibration(backtest.calibration, predicted=predicted, observed=observed),
                        width="stretch", key=key)


def _dates(cuts) -> str:
    cuts = sorted(cuts)
    if len(cuts) == 1:
        return str(cuts[0])
    return f"{len(cuts)} cuts ({', '.join(str(c) for c in cuts)}, pooled)"

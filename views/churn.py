"""Churn and propensity: survival curves, the at-risk list with drivers, purchase propensity, model check."""

import pandas as pd
import streamlit as st

from engine.errors import PondError
from ui import charts, data, widgets
from ui.backtest import backtest_panel
from ui.page import page_context

st.title("Churn and propensity")
page = page_context()
path, version = page.path, page.version
st.caption("Computed on the whole history up to the last day of data (the sidebar's dates, channel and "
           "property filters do not apply).")
# only the open tab runs: each of the others fits models that take seconds on a large warehouse
TABS = ["Survival", "At-risk users", "Purchase propensity", "How good are the models?"]
GROUPS = ["none", "channel", "community", "rfm", "segment"]
widgets.in_address({"churn-tab": ("tab", TABS), "churn-inactivity": ("inactive", widgets.bounded(1, 365)),
                    "churn-basis": ("basis", ["activity", "purchase"]), "churn-group": ("compare", GROUPS)},
                   **{"churn-inactivity": 30})
tab_survival, tab_risk, tab_propensity, tab_check = st.tabs(
    TABS, key="churn-tab", on_change="rerun")

with tab_survival:
    if tab_survival.open:
        cols = st.columns([1, 1.2, 1.2, 1.4])
        inactivity = cols[0].number_input("Churned after days without", min_value=1, max_value=365,
                                          key="churn-inactivity")
        basis = cols[1].radio("Counting", ["activity", "purchase"], key="churn-basis",
                              format_func={"activity": "any activity", "purchase": "purchases only"}.get)
        group = cols[2].selectbox("Compare", GROUPS, key="churn-group",
                                  format_func={"none": "everyone", "channel": "acquisition channels",
                                               "community": "first community", "rfm": "RFM segments",
                                               "segment": "a saved segment vs the rest"}.get)
        segment = None
        if group == "segment":
            saved = data.saved_segments(path, version)
            if saved.empty:
                widgets.empty_state("No saved segment yet.", hint="Save one on **Segments** first.")
                st.stop()
            segment = cols[3].selectbox("Saved segment", saved["name"].tolist(), key="churn-segment")
        try:
            result = data.churn_survival(path, version, int(inactivity), basis, group, segment)
        except PondError as exc:
            widgets.empty_state(str(exc))
            st.stop()
        groups = result.groups
        cards = st.columns(4)
        cards[0].metric("Users", f"{int(groups['users'].sum()):,}")
        cards[1].metric("Churned", f"{int(groups['churned'].sum()):,}",
                        help=f"No {'purchase' if basis == 'purchase' else 'activity'} in the last {inactivity} days.")
        cards[2].metric("Active (censored)", f"{int(groups['active'].sum()):,}",
                        help="Still active: their lifetime is not over yet, so the curves count them as censored.")
        median = groups["median_lifetime"].dropna()
        shown = ("per group below" if len(groups) > 1 else "not reached" if median.empty
                 else f"{median.iloc[0]:.0f} days")
        cards[3].metric("Median lifetime", shown,
                        help="Half the users have churned by this many days after their first activity.")
        st.plotly_chart(charts.survival_curves(result.curves), width="stretch")
        if result.logrank_p is not None:
            verdict = ("differ beyond chance" if result.logrank_p < 0.05 else "do not differ beyond chance")
            st.caption(f"Log-rank test across the groups: p = {result.logrank_p:.3g}: their curves {verdict}.")
        st.dataframe(groups, hide_index=True, column_config={
            "median_lifetime": st.column_config.NumberColumn("Median lifetime (days)", format="%.0f",
                                                             help="Empty: more than half are still active.")})
        widgets.csv_download(groups, "pond-churn-groups.csv", label="Groups as CSV", key="churn-groups-csv")

# the lists start at 30 days, or at the longest horizon the data can be backtested at when that is shorter
longest = data.longest_churn_horizon(path, version)
start_horizon = min(30, longest) if longest >= 1 else 30
if 1 <= longest < 30:
    st.caption(f"The history backs horizons up to {longest} days (three horizons of data are needed to train "
               "and check a list), so the lists start there.")

widgets.in_address({"churn-horizon": ("risk_days", widgets.bounded(1, 90)),
                    "prop-horizon": ("buy_days", widgets.bounded(1, 90))},
                   **{"churn-horizon": start_horizon, "prop-horizon": start_horizon})

with tab_risk:
    if tab_risk.open:
        horizon = st.slider("Risk of no activity in the next … days", 1, 90, key="churn-horizon")
        try:
            with st.spinner("Fitting the Cox model ..."):
                risk = data.churn_risk(path, version, int(horizon), 30)
        except PondError as exc:
            widgets.empty_state(str(exc))
        else:
            st.caption(f"Active users (some activity in the last 30 days up to {risk.as_of}), ranked by the chance "
                       f"of no activity in the next {horizon} days given how long they have been away: "
                       f"S(e+{horizon})/S(e) from a Cox model of the gap to the next visit. "
                       f"Concordance on the backtest's users: {risk.concordance:.3f} (0.5 = chance, 1 = perfect).")
            backtest_panel(risk.backtest, baseline="days since the last visit", predicted="Predicted risk",
                           observed="Share with no activity", key="churn-risk-reliability")
            if risk.ph_warning:
                st.warning(risk.ph_warning, icon=":material/warning:")
            counts = risk.risk["band"].value_counts()
            cards = st.columns(3)
            for card, band in zip(cards, ("high", "medium", "low"), strict=True):
                card.metric(f"{band.title()} risk", f"{int(counts.get(band, 0)):,}",
                            help={"high": "60% or more", "medium": "30% to 60%", "low": "under 30%"}[band])
            st.dataframe(risk.risk.head(500), hide_index=True, column_config={
                "risk": st.column_config.ProgressColumn("Risk", min_value=0.0, max_value=1.0, format="%.2f")})
            st.caption(f"Top 500 of {len(risk.risk):,}. Bands are conditions in the segment builder "
                       "(“has a churn risk”), ready for a win-back push.")
            widgets.csv_download(risk.risk, f"pond-churn-risk-{horizon}d.csv", label="At-risk list as CSV",
                                 key="churn-risk-csv")
            st.markdown("**What drives coming back** (hazard ratios per standard deviation; below 1: returns later)")
            st.plotly_chart(charts.forest_plot(risk.hazard_ratios), width="stretch")

with tab_propensity:
    if tab_propensity.open:
        horizon_p = st.slider("Chance of a purchase in the next … days", 1, 90, key="prop-horizon")
        try:
            with st.spinner("Fitting the logistic regression ..."):
                prop = data.purchase_propensity(path, version, int(horizon_p))
        except PondError as exc:
            widgets.empty_state(str(exc))
        else:
            with st.expander("What the logistic regression weighs"):
                st.dataframe(prop.coefficients, hide_index=True, column_config={
                    "weight": st.column_config.NumberColumn("Weight (per standard deviation)", format="%.3f")})
            backtest_panel(prop.backtest, baseline="days since the last purchase (never bought: last)",
                           predicted="Predicted chance of buying", observed="Share who bought",
                           key="prop-reliability")
            bar = st.column_config.ProgressColumn("Propensity", min_value=0.0, max_value=1.0, format="%.2f")
            st.dataframe(prop.scores.head(500), hide_index=True, column_config={"propensity": bar})
            st.caption(f"Users active in the last 90 days: top 500 of {len(prop.scores):,}.")
            widgets.csv_download(prop.scores, f"pond-propensity-{horizon_p}d.csv", label="Propensity as CSV",
                                 key="prop-csv")

with tab_check:
    if tab_check.open:
        try:
            check = data.churn_evaluation(path, version, 30)
        except PondError as exc:
            widgets.empty_state(str(exc))
        else:
            models = check["models"]
            first, last = check["label_window"]
            trained = ", ".join(check["training_cuts"])
            st.caption(f"Buyers before {check['cutoff']} ({check['users']:,}); churned = no purchase from {first} to "
                       f"{last} ({check['churn_rate']:.0%}). Models fitted on buyers as of {trained} (with what they "
                       "did in the 30 days from each), features from before each cut only. `recency` ranks by days "
                       "since the last purchase as they stand (its Brier score through a monotone calibration).")
            best = max(("logistic", "cox"), key=lambda m: models[m]["auc"])
            if models[best]["auc"] > models["recency"]["auc"]:
                st.success(f"{best} beats the recency baseline: AUC {models[best]['auc']:.3f} against "
                           f"{models['recency']['auc']:.3f}.")
            else:
                st.warning(f"Neither model beats ranking by recency on this data (AUC {models['recency']['auc']:.3f}).")
            table = pd.DataFrame.from_dict(models, orient="index").rename_axis("model").reset_index()
            st.dataframe(table, hide_index=True)
            for warning in check.get("warnings", []):  # a model that loses is never shown without a word
                st.caption(f":material/warning: {warning[0].upper()}{warning[1:]}.")
            widgets.csv_download(table, "pond-churn-evaluation.csv", label="Evaluation as CSV", key="churn-eval-csv")

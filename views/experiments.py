"""Experiments and campaigns: variant results with intervals, SRM check, verdict, sample size, coupons."""

import streamlit as st

from engine.errors import PondError
from engine.social.experiments import SRM_ALPHA, sample_size
from ui import charts, data, widgets
from ui.page import page_context

st.title("Experiments and campaigns")
st.caption("Each experiment is read over all its assignments and the events after them, and each coupon campaign "
           "over its whole run: the sidebar's dates, channel and property filters do not apply here.")
page = page_context()
path, version = page.path, page.version
# only the open tab runs (on_change="rerun"): a page's first view pays for one tab's queries
widgets.in_address({"experiments-tab": ("tab", ["A/B tests", "Sample size", "Coupon campaigns"])})
tab_tests, tab_size, tab_coupons = st.tabs(["A/B tests", "Sample size", "Coupon campaigns"], key="experiments-tab",
                                           on_change="rerun")

with tab_tests:
    if tab_tests.open:
        listed = data.experiments(path, version)
        if listed.empty:
            widgets.empty_state("No experiments yet.",
                                hint="Import an assignment file (columns user, experiment, variant; 实验名称 and "
                                "分组 work too) on **Upload data**, or tag events with campaign ids like checkout:A "
                                "and checkout:B.")
        else:
            top = st.columns([2, 1])
            widgets.in_address({"exp-name": ("experiment", listed["experiment"].tolist())})
            name = top[0].selectbox("Experiment", listed["experiment"].tolist(), key="exp-name")
            variants = listed.set_index("experiment").loc[name, "variants"]
            control = top[1].selectbox("Control", variants, key=f"exp-control-{name}")
            try:
                result = data.experiment_results(path, version, name, control)
            except PondError as exc:
                data.show_pond_error(exc)
            if result.sample_ratio_mismatch:
                st.error(f"⚠️ Sample ratio mismatch (p = {result.srm_p_value:.1e} < {SRM_ALPHA}): the variants' sizes "
                         "are not what the split intended. Fix the assignment before reading any result.")
            (st.warning if result.sample_ratio_mismatch else st.info)(result.verdict)
            table = result.variants
            charts_row = st.columns(3)
            for column, (metric, label) in zip(charts_row, (("conversion", "Conversion"), ("ctr", "CTR"),
                                                            ("gmv_per_user", "GMV per user (¥)")), strict=True):
                with column:
                    st.markdown(f"**{label}** (95% intervals)")
                    st.plotly_chart(charts.variant_rates(table, metric, label=label), width="stretch")
            st.markdown("**Variants**")
            st.dataframe(table, hide_index=True, column_config={
                c: st.column_config.NumberColumn(format="percent")
                for c in ("conversion", "conversion_low", "conversion_high", "ctr", "ctr_low", "ctr_high")} | {
                c: st.column_config.NumberColumn(c.replace("_", " ") + " (¥)", format="¥%.2f")
                for c in ("gmv_per_user", "gmv_per_user_low", "gmv_per_user_high", "gmv_sd")} | {
                "gmv": st.column_config.NumberColumn("GMV (¥)", format="yen")})
            widgets.csv_download(table, f"pond-experiment-{name}-variants.csv", label="Variants as CSV",
                                 key="exp-variants-csv")
            st.markdown(f"**Against {control}** (lift = relative change; significant at 5%, Bonferroni-corrected "
                        "when there are several treatments)")
            st.dataframe(result.comparisons, hide_index=True, column_config={
                c: st.column_config.NumberColumn(format="percent") for c in ("lift", "lift_low", "lift_high")} | {
                "p_value": st.column_config.NumberColumn("p-value", format="%.4f")})
            widgets.csv_download(result.comparisons, f"pond-experiment-{name}-comparisons.csv",
                                 label="Comparisons as CSV", key="exp-comparisons-csv")

with tab_size:
    if tab_size.open:
        st.caption("How many users each variant needs to detect a lift in a conversion rate (two-sided, 5% "
                   "significance, 80% power), and how long that takes.")
        cols = st.columns(4)
        baseline = cols[0].number_input("Baseline conversion (%)", min_value=0.1, max_value=99.0, value=5.0,
                                        step=0.5, key="size-baseline")
        lift = cols[1].number_input("Lift to detect (% relative)", min_value=1.0, max_value=500.0, value=10.0,
                                    step=1.0, key="size-lift")
        arms = cols[2].number_input("Variants (incl. control)", min_value=2, max_value=10, value=2, key="size-arms")
        daily = cols[3].number_input("Users entering per day", min_value=1, value=1000, step=100, key="size-daily")
        try:
            size = sample_size(baseline / 100, lift / 100, variants=int(arms), daily_users=float(daily))
            out = st.columns(3)
            out[0].metric("Users per variant", f"{size['per_variant']:,}")
            out[1].metric("Users in all", f"{size['total']:,}")
            out[2].metric("Days to run", f"{size['days']:,}")
        except PondError as exc:
            st.error(str(exc))

with tab_coupons:
    if tab_coupons.open:
        campaigns = data.campaign_effect(path, version)
        if campaigns.empty:
            widgets.empty_state("No coupon campaigns yet.", hint="They come from coupon_issue and coupon_redeem "
                                "events that carry a campaign id.")
        else:
            st.caption("Redeemers against the users who got the same coupon and did not redeem, from the first "
                       "issue to 30 days after the last. Redeeming needs a purchase, so redeemers buy more by "
                       "definition: read the gap as an upper bound, not the coupon's effect; an A/B test of the "
                       "coupon measures that.")
            st.dataframe(campaigns, hide_index=True, column_config={
                c: st.column_config.NumberColumn(format="percent")
                for c in ("redemption_rate", "repurchase_redeemers", "repurchase_non_redeemers", "gmv_lift")} | {
                c: st.column_config.NumberColumn(c.replace("_", " ") + " (¥)", format="¥%.2f")
                for c in ("gmv_per_redeemer", "gmv_per_non_redeemer")})
            widgets.csv_download(campaigns, "pond-coupon-campaigns.csv", label="Campaigns as CSV", key="coupon-csv")
            daily = data.campaign_daily(path, version)
            st.markdown("**Redemptions per day**")
            st.line_chart(daily, x="day", y="redeemed", color="campaign_id", x_label="Day", y_label="Coupons redeemed")
            widgets.csv_download(daily, "pond-coupons-per-day.csv", label="Issued and redeemed per day as CSV",
                                 key="coupon-daily-csv")

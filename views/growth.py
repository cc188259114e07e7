"""Growth: exponential, logistic, Gompertz and Bass curves beside a straight line and carry-forward."""

import pandas as pd
import streamlit as st

from engine.errors import PondError
from engine.predictions.growth import METRIC_LABELS, PARAM_NAMES, S_CURVES
from ui import charts, data, widgets
from ui.page import page_context

st.title("Growth")
page = page_context()
path, version = page.path, page.version
st.caption("Curves are fitted to the whole history (the sidebar's dates, channel and property filters do not "
           "apply). The last "
           "days are held out first: each model is fitted without them and scored on how well it forecast them.")

widgets.in_address({"growth-metric": ("metric", list(METRIC_LABELS)), "growth-period": ("per", ["day", "week"]),
                    "growth-holdout": ("holdout", int), "growth-horizon": ("ahead", int)},
                   **{"growth-holdout": 30, "growth-horizon": 60})
cols = st.columns([1.3, 1, 1.2, 1.2])
metric = cols[0].radio("Grow of", list(METRIC_LABELS), format_func=lambda m: METRIC_LABELS[m], key="growth-metric",
                       help="Users: first active day. Buyers: first purchase. GMV: purchase amounts.")
period = cols[1].radio("One point per", ["day", "week"], key="growth-period", horizontal=True)
holdout = cols[2].slider("Backtest: days held out", 7, 90, step=1, key="growth-holdout")
horizon = cols[3].slider("Forecast: days ahead", 7, 180, step=1, key="growth-horizon")

try:
    result = data.growth(path, version, metric, period, int(holdout), int(horizon))
except PondError as exc:
    widgets.empty_state(str(exc), hint="Growth curves need a few weeks of history.")
    st.stop()

best = result.best
if best in S_CURVES:
    st.success(result.verdict, icon=":material/trending_up:")
else:
    st.warning(result.verdict, icon=":material/straighten:")

fitted = [name for name, fit in result.fits.items() if fit.ok]
default = [n for n in dict.fromkeys([best, "linear", "logistic"]) if n in fitted]
# one selection per metric and period: the best model of one series says nothing about another's
shown = st.multiselect("Models on the chart", fitted, default=default, key=f"growth-shown-{metric}-{period}")
if best in fitted and best not in shown:
    st.caption(f"The best model, {best}, is not on the chart: add it above to see the curve the verdict names.")
st.plotly_chart(charts.growth_curves(result, shown, label=METRIC_LABELS[metric]), width="stretch")

rows = []
for name, fit in result.fits.items():
    intervals = "; ".join(f"{p} {fit.params[p]:,.4g} [{fit.intervals[p][0]:,.4g}, {fit.intervals[p][1]:,.4g}]"
                          for p in PARAM_NAMES[name] if p in fit.intervals)
    rows.append({"model": name + (" (best)" if name == best else ""), "fitted": "yes" if fit.ok else "no",
                 "backtest MAPE %": fit.holdout_mape, "R²": fit.r2, "AIC": fit.aic,
                 "capacity": fit.capacity, "inflection": fit.inflection,
                 "parameters (95% interval)": intervals or ", ".join(f"{k} {v:,.4g}" for k, v in fit.params.items()),
                 "note": fit.message})
table = pd.DataFrame(rows)
st.dataframe(table, hide_index=True, column_config={
    "backtest MAPE %": st.column_config.NumberColumn(format="%.2f", help=f"Mean absolute percentage error on the "
                                                     f"last {holdout} days, fitted without them."),
    "R²": st.column_config.NumberColumn(format="%.4f", help="On the whole history (in-sample)."),
    "AIC": st.column_config.NumberColumn(format="%.1f", help="Lower is better; compares fits on the same data."),
    "capacity": st.column_config.NumberColumn(format="%,.0f", help="Where the S-curve levels off (L or m)."),
    "inflection": st.column_config.DateColumn(help="When growth is fastest, after which it slows."),
})
st.caption("S-curves: logistic L/(1+e^-(rt-c)), Gompertz L·e^(-b·e^(-ct)), Bass m(1-e^-(p+q)t)/(1+(q/p)e^-(p+q)t); "
           "t in periods since the first. Capacity and inflection mean something only when the backtest "
           "supports the curve.")
widgets.csv_download(table, f"pond-growth-{metric}-models.csv", label="Models as CSV", key="growth-csv")
points = result.series.assign(**{f"{name}_fit": fit.fitted for name, fit in result.fits.items() if fit.ok})
widgets.csv_download(points, f"pond-growth-{metric}-series.csv", label="Series and fits as CSV",
                     key="growth-series-csv")

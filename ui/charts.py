"""Plotly chart builders shared by pages (no Streamlit calls here, only figures)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

EVENT_COLOURS = {
    "impression": "#c7d2fe", "view": "#93c5fd", "click": "#60a5fa", "cart": "#fbbf24", "fav": "#f9a8d4",
    "purchase": "#16a34a", "refund": "#dc2626", "share": "#a855f7", "comment": "#14b8a6", "like": "#f472b6",
    "join_group": "#0ea5e9", "coupon_issue": "#fde68a", "coupon_redeem": "#f59e0b", "signup": "#64748b",
}


def _layout(fig: go.Figure, *, y_title: str) -> go.Figure:
    fig.update_layout(margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend_title_text="",
                      hovermode="x unified", yaxis_title=y_title, xaxis_title=None, height=360)
    return fig


def events_by_day(frame: pd.DataFrame) -> go.Figure:
    """Stacked bars of events per day and event type."""
    fig = px.bar(frame, x="day", y="events", color="event_type", color_discrete_map=EVENT_COLOURS,
                 labels={"events": "Events", "event_type": "Event type", "day": "Day"})
    return _layout(fig, y_title="Events per day")


def activity_by_day(frame: pd.DataFrame) -> go.Figure:
    """Active users and buyers per day as lines."""
    long = frame.melt(id_vars="day", value_vars=["active_users", "buyers"], var_name="series",
                      value_name="users")
    long["series"] = long["series"].map({"active_users": "Active users", "buyers": "Buyers"})
    fig = px.line(long, x="day", y="users", color="series", markers=len(frame) < 40,
                  labels={"users": "Users", "day": "Day"})
    return _layout(fig, y_title="Users per day")


def active_windows_by_day(frame: pd.DataFrame) -> go.Figure:
    """DAU, WAU and MAU per day, each counted over the 1, 7 or 30 days that end on that day."""
    names = {"dau": "DAU (that day)", "wau": "WAU (7 days to that day)", "mau": "MAU (30 days to that day)"}
    long = frame.melt(id_vars="day", value_vars=list(names), var_name="series", value_name="users")
    long["series"] = long["series"].map(names)
    fig = px.line(long, x="day", y="users", color="series", markers=len(frame) < 40,
                  labels={"users": "Active users", "day": "Day"})
    fig = _layout(fig, y_title="Distinct active users")
    fig.update_layout(legend={"orientation": "h", "y": -0.15})
    return fig


def gmv_by_day(frame: pd.DataFrame) -> go.Figure:
    fig = px.bar(frame, x="day", y="gmv", labels={"gmv": "GMV (¥)", "day": "Day"},
                 color_discrete_sequence=["#16a34a"])
    return _layout(fig, y_title="GMV per day (¥)")


def retention_heatmap(matrix: pd.DataFrame, average: pd.DataFrame, *, show: str, period: str) -> go.Figure:
    """Cohorts (rows, newest last) by periods (columns); the weighted average on top.

    ``show`` is ``rate`` or ``users``; cells of periods not over yet carry a ``*``.
    """
    from engine.behaviour.retention import cohort_label

    unit = {"hour": "Hour", "day": "Day", "week": "Week", "month": "Month"}[period]
    cohorts = sorted(matrix["cohort"].unique())
    periods = sorted(matrix["period"].unique())
    firsts = matrix.drop_duplicates("cohort").set_index("cohort")
    # each row says the days its start events lie on and how many users it holds
    rows = ["Average"] + [f"{cohort_label(firsts.at[c, 'cohort_from'], firsts.at[c, 'cohort_to'])} · "
                          f"{int(firsts.at[c, 'cohort_size']):,} users" for c in cohorts]
    z, text, hover = [], [], []
    avg = average.set_index("period")
    z.append([avg["rate"].get(p) for p in periods])
    text.append([f"{avg['rate'][p]:.0%}" if p in avg.index else "" for p in periods])
    hover.append([f"Average, {unit} {p}: {avg['rate'][p]:.1%} of {avg['cohort_size'][p]:,} users "
                  f"({avg['cohorts'][p]} cohorts)" if p in avg.index else "" for p in periods])
    cells = matrix.set_index(["cohort", "period"])
    for row_label, cohort in zip(rows[1:], cohorts, strict=True):
        line_z, line_text, line_hover = [], [], []
        for p in periods:
            if (cohort, p) not in cells.index:
                line_z.append(None)
                line_text.append("")
                line_hover.append("")
                continue
            cell = cells.loc[(cohort, p)]
            star = "" if cell["complete"] else "*"
            line_z.append(cell["rate"])
            label = f"{cell['rate']:.0%}" if show == "rate" else f"{int(cell['users']):,}"
            line_text.append(label + star)
            line_hover.append(f"Cohort {row_label}, {unit} {p}: {int(cell['users']):,} of "
                              f"{int(cell['cohort_size']):,} ({cell['rate']:.1%})"
                              + ("; period not over yet" if star else ""))
        z.append(line_z)
        text.append(line_text)
        hover.append(line_hover)
    fig = go.Figure(go.Heatmap(
        z=z, x=[f"{unit} {p}" for p in periods], y=rows, text=text, texttemplate="%{text}",
        customdata=hover, hovertemplate="%{customdata}<extra></extra>", colorscale="Teal", zmin=0,
        zmax=1, colorbar={"title": "Retained", "tickformat": ".0%"}, xgap=1, ygap=1))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(side="top", type="category")
    fig.update_layout(margin={"l": 10, "r": 10, "t": 40, "b": 10}, height=max(300, 28 * len(rows) + 80))
    return fig


def retention_curves(average: pd.DataFrame, *, period: str) -> go.Figure:
    """Average retention by period since the cohort, one line per segment."""
    unit = {"hour": "Hour", "day": "Day", "week": "Week", "month": "Month"}[period]
    fig = px.line(average, x="period", y="rate", color="segment", markers=True,
                  labels={"period": f"{unit}s since cohort", "rate": "Retained", "segment": ""})
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return _layout(fig, y_title="Retained (weighted average)")


def period_n_line(frame: pd.DataFrame, *, n: int, period: str) -> go.Figure:
    unit = {"hour": "Hour", "day": "Day", "week": "Week", "month": "Month"}[period]
    fig = px.line(frame, x="cohort", y="rate", color="segment", markers=True,
                  labels={"cohort": "Cohort", "rate": f"{unit}-{n} retention", "segment": ""})
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return _layout(fig, y_title=f"{unit}-{n} retention")


def funnel_bars(steps: pd.DataFrame) -> go.Figure:
    """Users at each step, one funnel per segment, labelled with the conversion from step 1."""
    fig = go.Figure()
    for segment, rows in steps.groupby("segment", sort=False):
        labels = [f"{r.step}. {r.event_type}" for r in rows.itertuples()]
        fig.add_trace(go.Funnel(name=segment, y=labels, x=rows["users"], textinfo="value+percent initial",
                                hovertemplate="%{y}: %{x:,} users (%{percentInitial:.1%} of step 1, "
                                              "%{percentPrevious:.1%} of the previous step)<extra></extra>"))
    fig.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10}, height=320, legend_title_text="")
    return fig


def hours_histogram(hours: pd.Series, *, bins: int = 40) -> go.Figure:
    """Hours to convert in ``bins`` bars, binned here: the browser gets 40 bars, not every user's value."""
    counts, edges = np.histogram(hours.to_numpy(dtype=float), bins=bins)
    fig = go.Figure(go.Bar(
        x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges), marker_color="#0f766e",
        customdata=np.column_stack([edges[:-1], edges[1:]]),
        hovertemplate="%{customdata[0]:.1f} – %{customdata[1]:.1f} h: %{y:,} users<extra></extra>"))
    fig.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10}, height=300, yaxis_title="Users",
                      xaxis_title="Hours from step 1 to the last step", bargap=0.02)
    return fig


def rate_trend(frame: pd.DataFrame, *, rate: str = "ctr", label: str = "CTR") -> go.Figure:
    """A daily rate with its 95% interval as a band."""
    fig = go.Figure([
        go.Scatter(x=frame["day"], y=frame[f"{rate}_high"], line={"width": 0}, showlegend=False,
                   hoverinfo="skip"),
        go.Scatter(x=frame["day"], y=frame[f"{rate}_low"], line={"width": 0}, fill="tonexty",
                   fillcolor="rgba(15,118,110,0.18)", name="95% interval", hoverinfo="skip"),
        go.Scatter(x=frame["day"], y=frame[rate], mode="lines+markers", name=label, line={"color": "#0f766e"},
                   hovertemplate="%{x|%Y-%m-%d}: %{y:.2%}<extra></extra>"),
    ])
    fig.update_yaxes(tickformat=".1%", rangemode="tozero")
    return _layout(fig, y_title=label)


LIFECYCLE_COLOURS = {"new": "#16a34a", "returning": "#0ea5e9", "resurrecting": "#a855f7",
                     "dormant": "#dc2626"}


PERIOD_HALF_WIDTH = {"day": pd.Timedelta(hours=12), "week": pd.Timedelta(days=3.5), "month": pd.Timedelta(days=15)}


def shade_partial_periods(fig: go.Figure, frame: pd.DataFrame, *, period: str) -> go.Figure:
    """Grey out the periods that reach outside the chosen days (``complete`` false), labelled
    "partial", so that a short last week is not read as a collapse."""
    partial = sorted(pd.to_datetime(frame.loc[~frame["complete"].astype(bool), "period"]).unique())
    for first in partial:
        fig.add_vrect(x0=first - PERIOD_HALF_WIDTH[period], x1=first + PERIOD_HALF_WIDTH[period],
                      fillcolor="#94a3b8", opacity=0.18, line_width=0, annotation_text="partial",
                      annotation_position="top left", annotation_font_color="#475569")
    return fig


def trend_lines(frame: pd.DataFrame, labels: dict[str, str], *, period: str, bars: bool = False) -> go.Figure:
    """One line (or bar group) per series and breakdown value; the previous period dotted; partial
    periods shaded."""
    fig = go.Figure()
    palette = px.colors.qualitative.Safe + px.colors.qualitative.Pastel
    groups = list(frame.groupby(["series", "breakdown"], sort=False))
    for n, ((series, value), part) in enumerate(groups):
        name = series if value == "All" else f"{series} · {value}"
        colour = palette[n % len(palette)]
        hover = f"{labels.get(series, series)}" + ("" if value == "All" else f" · {value}")
        if bars:
            fig.add_trace(go.Bar(x=part["period"], y=part["value"], name=name, marker_color=colour,
                                 hovertext=hover))
        else:
            fig.add_trace(go.Scatter(x=part["period"], y=part["value"], name=name, mode="lines+markers",
                                     line={"color": colour}, hovertext=hover))
        if "previous" in part:
            fig.add_trace(go.Scatter(x=part["period"], y=part["previous"], name=f"{name} (previous period)",
                                     mode="lines", line={"color": colour, "dash": "dot"}, hovertext=hover))
    fig = _layout(shade_partial_periods(fig, frame, period=period), y_title="Value")
    fig.update_layout(legend={"orientation": "h", "y": -0.15}, barmode="group")
    return fig


def path_sankey(links: pd.DataFrame) -> go.Figure:
    """Users' moves between steps as a Sankey diagram (node names carry their step: ``2. cart``)."""
    nodes = list(dict.fromkeys([*links["source"], *links["target"]]))
    index = {name: n for n, name in enumerate(nodes)}
    fig = go.Figure(go.Sankey(
        node={"label": nodes, "pad": 14, "thickness": 14,
              "color": [EVENT_COLOURS.get(n.split(". ", 1)[-1], "#94a3b8") for n in nodes]},
        link={"source": links["source"].map(index).tolist(), "target": links["target"].map(index).tolist(),
              "value": links["users"].tolist(), "hovertemplate": "%{source.label} → %{target.label}: "
              "%{value:,} users<extra></extra>"}))
    fig.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10}, height=480)
    return fig


def conversion_over_time(frame: pd.DataFrame, *, period: str) -> go.Figure:
    """Each entry period's conversion per segment; periods whose entrants could still convert shaded."""
    fig = px.line(frame, x="period", y="conversion", color="segment", markers=True,
                  labels={"period": period.title(), "conversion": "Converted", "segment": ""},
                  hover_data={"entered": ":,", "converted": ":,"})
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return _layout(shade_partial_periods(fig, frame, period=period), y_title="Share of entrants who converted")


def lifecycle_bars(frame: pd.DataFrame, *, period: str) -> go.Figure:
    """Stacked bars: gains above zero (new, returning, resurrecting), dormant users below; periods
    that are not over (or began before the chosen days) are shaded and their bars faded."""
    fig = px.bar(frame, x="period", y="users", color="status", color_discrete_map=LIFECYCLE_COLOURS,
                 category_orders={"status": list(LIFECYCLE_COLOURS)},
                 labels={"period": period.title(), "users": "Users", "status": ""}, custom_data=["complete"])
    for trace in fig.data:
        trace.marker.opacity = [1.0 if done else 0.45 for (done,) in trace.customdata]
    fig.update_layout(barmode="relative")
    return _layout(shade_partial_periods(fig, frame, period=period), y_title=f"Users per {period}")


def stickiness_line(frame: pd.DataFrame) -> go.Figure:
    fig = px.line(frame, x="day", y="stickiness", markers=len(frame) < 40,
                  labels={"day": "Day", "stickiness": "DAU / MAU"}, color_discrete_sequence=["#0f766e"])
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return _layout(fig, y_title="DAU / MAU")


def community_lines(frame: pd.DataFrame, names: dict[str, str], *, period: str = "week") -> go.Figure:
    """Active members per group and period; partial periods shaded (see :func:`shade_partial_periods`)."""
    frame = frame.assign(community=frame["community_id"].map(lambda c: names.get(c, c)))
    fig = px.line(frame, x="period", y="active_members", color="community", markers=True,
                  labels={"period": "Period", "active_members": "Active members", "community": ""})
    return _layout(shade_partial_periods(fig, frame, period=period), y_title="Active members")


def segment_treemap(sizes: pd.DataFrame) -> go.Figure:
    """Segments sized by customers, coloured by average value."""
    fig = px.treemap(sizes, path=["segment"], values="customers", color="avg_monetary",
                     color_continuous_scale="Teal", custom_data=["share", "monetary", "avg_recency_days"])
    fig.update_traces(texttemplate="%{label}<br>%{value:,} customers<br>%{customdata[0]:.0%}",
                      hovertemplate="%{label}: %{value:,} customers (%{customdata[0]:.1%}), "
                                    "¥%{customdata[1]:,.0f} in total, last order %{customdata[2]:.0f} days "
                                    "ago on average<extra></extra>")
    fig.update_layout(margin={"l": 0, "r": 0, "t": 10, "b": 0}, height=420,
                      coloraxis_colorbar={"title": "Avg ¥"})
    return fig


def transition_heatmap(moved: pd.DataFrame) -> go.Figure:
    table = moved.pivot_table(index="from_segment", columns="to_segment", values="customers", fill_value=0)
    fig = go.Figure(go.Heatmap(z=table.values, x=list(table.columns), y=list(table.index), colorscale="Teal",
                               text=table.values, texttemplate="%{text}",
                               hovertemplate="%{y} → %{x}: %{z:,} customers<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title="Before")
    fig.update_xaxes(title="Now", side="top")
    fig.update_layout(margin={"l": 10, "r": 10, "t": 60, "b": 10}, height=max(320, 30 * len(table) + 120))
    return fig


def share_bars(profile: pd.DataFrame, field: str, *, label: str) -> go.Figure:
    """A property's shares in the chosen users next to everyone's."""
    rows = profile[profile["field"] == field].head(12)
    long = rows.melt(id_vars="value", value_vars=["share", "share_all"], var_name="who", value_name="part")
    long["who"] = long["who"].map({"share": "These users", "share_all": "Everyone"})
    fig = px.bar(long, x="value", y="part", color="who", barmode="group",
                 color_discrete_map={"These users": "#0f766e", "Everyone": "#cbd5e1"},
                 labels={"value": label, "part": "Share", "who": ""})
    fig.update_yaxes(tickformat=".0%")
    return _layout(fig, y_title="Share of users")


def count_bars(frame: pd.DataFrame, x: str, *, label: str, ticks: list[str] | None = None) -> go.Figure:
    fig = px.bar(frame, x=x, y="purchases", labels={x: label, "purchases": "Purchases"},
                 color_discrete_sequence=["#0f766e"])
    if ticks:
        fig.update_xaxes(tickmode="array", tickvals=list(frame[x]), ticktext=ticks)
    return _layout(fig, y_title="Purchases")


def user_activity(timeline: pd.DataFrame) -> go.Figure:
    daily = timeline.assign(day=pd.to_datetime(timeline["event_time"]).dt.date)
    daily = daily.groupby(["day", "event_type"], as_index=False).size().rename(columns={"size": "events"})
    fig = px.bar(daily, x="day", y="events", color="event_type", color_discrete_map=EVENT_COLOURS,
                 labels={"day": "Day (UTC)", "events": "Events", "event_type": ""})
    return _layout(fig, y_title="Events per day")


def variant_rates(variants: pd.DataFrame, metric: str, *, label: str) -> go.Figure:
    """One point per variant with its 95% interval as an error bar."""
    money = metric == "gmv_per_user"
    fig = go.Figure(go.Scatter(
        x=variants["variant"], y=variants[metric], mode="markers", marker={"size": 12, "color": "#0f766e"},
        error_y={"type": "data", "symmetric": False, "array": variants[f"{metric}_high"] - variants[metric],
                 "arrayminus": variants[metric] - variants[f"{metric}_low"]},
        hovertemplate="%{x}: ¥%{y:,.1f}<extra></extra>" if money else "%{x}: %{y:.2%}<extra></extra>"))
    fig.update_yaxes(tickformat=",.0f" if money else ".1%")
    return _layout(fig, y_title=label)


def network_graph(graph, sharers: pd.DataFrame) -> go.Figure:
    """Referral graph: nodes coloured by community, sized by reach; edges from referrer to referred."""
    import math

    import networkx as nx

    layout = nx.spring_layout(graph, seed=7, k=None)
    info = sharers.set_index("user_id")
    edge_x, edge_y = [], []
    for a, b in graph.edges():
        edge_x += [layout[a][0], layout[b][0], None]
        edge_y += [layout[a][1], layout[b][1], None]
    nodes = list(graph.nodes())
    reach = [int(info["reach_users"].get(n, 0)) for n in nodes]
    community = [int(info["community"].get(n, 0)) for n in nodes]
    fig = go.Figure([
        go.Scatter(x=edge_x, y=edge_y, mode="lines", line={"width": 0.6, "color": "#cbd5e1"}, hoverinfo="skip",
                   showlegend=False),
        go.Scatter(x=[layout[n][0] for n in nodes], y=[layout[n][1] for n in nodes], mode="markers",
                   marker={"size": [6 + 4 * math.log1p(r) for r in reach], "color": community,
                           "colorscale": "Turbo", "line": {"width": 0.5, "color": "white"}},
                   text=[f"{n}: reach {r:,} users, community {c}" for n, r, c in zip(nodes, reach, community,
                                                                                       strict=True)],
                   hovertemplate="%{text}<extra></extra>", showlegend=False),
    ])
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(margin={"l": 0, "r": 0, "t": 0, "b": 0}, height=520, plot_bgcolor="white")
    return fig


def k_factor_lines(frame: pd.DataFrame) -> go.Figure:
    fig = px.line(frame, x="period", y="k_factor", color="channel", markers=True,
                  labels={"period": "Period", "k_factor": "K-factor", "channel": ""})
    return _layout(fig, y_title="Referred users per active user")


def model_comparison(table: pd.DataFrame, *, metric: str = "ndcg", k: int = 10) -> go.Figure:
    """Horizontal bars of one ranking metric per model; baselines grey, the served model green."""
    colours = {"baseline": "#94a3b8", "model": "#60a5fa", "served": "#16a34a"}
    ordered = table.sort_values(metric)
    fig = px.bar(ordered, x=metric, y="model", color="role", orientation="h", color_discrete_map=colours,
                 labels={metric: f"{metric.upper() if metric == 'ndcg' else metric.replace('_', ' ')}@{k}",
                         "model": "", "role": ""}, text_auto=".3f")
    fig.update_layout(margin={"l": 10, "r": 10, "t": 30, "b": 10}, height=60 + 40 * len(table),
                      legend_title_text="")
    return fig


MODEL_COLOURS = {"exponential": "#f97316", "logistic": "#16a34a", "gompertz": "#0ea5e9", "bass": "#a855f7",
                 "linear": "#64748b", "naive": "#94a3b8"}


def growth_curves(result, shown: list[str], *, label: str) -> go.Figure:
    """The cumulative series as dots, each shown model's fit as a line, its forecast dashed with a band."""
    series = result.series
    fig = go.Figure(go.Scatter(x=series["day"], y=series["value"], mode="markers", name="actual",
                               marker={"color": "#0f172a", "size": 5}))
    for name in shown:
        fit = result.fits[name]
        if not fit.ok:
            continue
        colour = MODEL_COLOURS[name]
        fig.add_trace(go.Scatter(x=series["day"], y=fit.fitted, mode="lines", name=f"{name} fit",
                                 line={"color": colour}))
        fc = fit.forecast
        fig.add_trace(go.Scatter(x=list(fc["day"]) + list(fc["day"])[::-1], y=list(fc["high"]) + list(fc["low"])[::-1],
                                 fill="toself", fillcolor=colour, opacity=0.15, line={"width": 0},
                                 name=f"{name} 95% band", hoverinfo="skip", showlegend=False))
        fig.add_trace(go.Scatter(x=fc["day"], y=fc["value"], mode="lines", name=f"{name} forecast",
                                 line={"color": colour, "dash": "dash"}))
    holdout_start = series["day"].iloc[-1] - pd.Timedelta(days=result.holdout_days)
    fig.add_vline(x=holdout_start, line={"dash": "dot", "color": "#94a3b8"})
    fig.add_annotation(x=holdout_start, y=1, yref="paper", text="backtest period", showarrow=False,
                       xanchor="left", font={"size": 11, "color": "#64748b"})
    return _layout(fig, y_title=label)


def survival_curves(curves: pd.DataFrame) -> go.Figure:
    """Kaplan–Meier survival per group with its 95% band."""
    fig = go.Figure()
    palette = px.colors.qualitative.Set2
    for k, (name, part) in enumerate(curves.groupby("group", sort=True)):
        colour = palette[k % len(palette)]
        fig.add_trace(go.Scatter(x=list(part["day"]) + list(part["day"])[::-1],
                                 y=list(part["high"]) + list(part["low"])[::-1], fill="toself", fillcolor=colour,
                                 opacity=0.15, line={"width": 0}, hoverinfo="skip", showlegend=False))
        fig.add_trace(go.Scatter(x=part["day"], y=part["survival"], mode="lines", name=str(name),
                                 line={"color": colour, "shape": "hv"}))
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02])
    fig = _layout(fig, y_title="Still active")
    fig.update_xaxes(title_text="Days since first activity")
    return fig


def forest_plot(ratios: pd.DataFrame) -> go.Figure:
    """Hazard ratios of returning, with 95% intervals, on a log axis (below 1: returns later, riskier)."""
    ordered = ratios.sort_values("hazard_ratio")
    fig = go.Figure(go.Scatter(
        x=ordered["hazard_ratio"], y=ordered["feature"], mode="markers", marker={"size": 9, "color": "#0ea5e9"},
        error_x={"type": "data", "symmetric": False, "array": ordered["high"] - ordered["hazard_ratio"],
                 "arrayminus": ordered["hazard_ratio"] - ordered["low"]}))
    fig.add_vline(x=1, line={"dash": "dot", "color": "#94a3b8"})
    fig.update_xaxes(type="log", title_text="Hazard ratio of coming back, per standard deviation (log scale)")
    fig.update_layout(margin={"l": 10, "r": 10, "t": 30, "b": 10}, height=80 + 28 * len(ratios))
    return fig


def calibration(frame: pd.DataFrame, *, predicted: str = "Predicted chance of buying",
                observed: str = "Share who bought") -> go.Figure:
    """Predicted against observed rate per tenth of the prediction (a reliability plot), with the diagonal."""
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "#94a3b8"},
                               name="perfect"))
    fig.add_trace(go.Scatter(x=frame["predicted"], y=frame["observed"], mode="markers+lines",
                             marker={"size": 6 + 14 * frame["users"] / max(frame["users"].max(), 1)},
                             name="model", text=frame["users"].map(lambda n: f"{n:,} users")))
    fig.update_xaxes(title_text=predicted, tickformat=".0%", range=[0, 1])
    fig.update_yaxes(title_text=observed, tickformat=".0%", range=[0, 1])
    fig.update_layout(margin={"l": 10, "r": 10, "t": 30, "b": 10}, height=360)
    return fig


def breakdown_bars(frame: pd.DataFrame, metric: str, *, label: str, by: str, percent: bool = False) -> go.Figure:
    """One bar per breakdown value (the ``All`` row left out), in the table's order."""
    rows = frame[frame["breakdown"] != "All"]
    fig = px.bar(rows, x="breakdown", y=metric, labels={"breakdown": by, metric: label},
                 color_discrete_sequence=["#0f766e"], text_auto=".1%" if percent else ",.4~r")
    fig.update_xaxes(type="category")
    if percent:
        fig.update_yaxes(tickformat=".0%")
    return _layout(fig, y_title=label)

"""Every headline figure recomputed from the raw ``events`` table in plain pandas.

The reference functions below are written from the definitions in the pages' help and docs/METRICS.md,
not from the engine's SQL: a business day is the event's UTC time seen in the warehouse's business
time zone; a user is *active* on a day when they did something themselves (anything but an impression
or a coupon push); WAU and MAU are the distinct active users of the 7 and 30 days ending on the range's
last day; an order is a distinct order id, and a purchase without one is an order of its own; GMV is
the sum of purchase amounts. The engine must agree with them on the demo warehouse and, when
``POND_REAL_DATA`` is set, on both real public exports.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from engine.behaviour import metrics
from engine.ingest import import_file
from engine.ingest.demo import build_demo
from engine.store import warehouse

PASSIVE = {"impression", "coupon_issue"}


# --- the warehouses --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_warehouse(tmp_path_factory):
    path = tmp_path_factory.mktemp("reference") / "demo.duckdb"
    with warehouse.connect(path) as con:
        build_demo(con, users=700, days=75, seed=11, end=date(2026, 5, 31))
    return path


def _real_warehouse(tmp_path_factory, name: str, relative: str, tz: str | None):
    import os
    from pathlib import Path

    folder = os.environ.get("POND_REAL_DATA")
    if not folder or not (Path(folder) / relative).is_file():
        pytest.skip("POND_REAL_DATA is not set (or lacks the file): point it at ../shared/data/real")
    path = tmp_path_factory.mktemp("reference") / f"{name}.duckdb"
    with warehouse.connect(path) as con:
        import_file(con, Path(folder) / relative, **({"timezone": tz} if tz else {}))
    return path


@pytest.fixture(scope="module")
def taobao_warehouse(tmp_path_factory):
    return _real_warehouse(tmp_path_factory, "taobao", "taobao_userbehavior/UserBehavior_head84k.csv",
                           "Asia/Shanghai")


@pytest.fixture(scope="module")
def rees46_warehouse(tmp_path_factory):
    return _real_warehouse(tmp_path_factory, "rees46", "rees46/2019-Oct_first3h.csv", None)


@pytest.fixture(params=["demo", pytest.param("taobao", marks=pytest.mark.realdata),
                        pytest.param("rees46", marks=pytest.mark.realdata)])
def con(request):
    path = request.getfixturevalue(f"{request.param}_warehouse")
    with warehouse.connect(path) as connection:
        yield connection


# --- the independent reference ---------------------------------------------------------------------

def raw_events(con) -> pd.DataFrame:
    """The raw events with their business day, read once; nothing from the rollups."""
    frame = con.execute("select * exclude (event_id) from events").df()
    tz = warehouse.business_timezone(con)
    local = pd.to_datetime(frame["event_time"]).dt.tz_localize("UTC").dt.tz_convert(tz)
    frame["day"] = local.dt.date
    frame["active"] = ~frame["event_type"].isin(PASSIVE)
    return frame


def within(events: pd.DataFrame, start: date, end: date, channel: str | None = None) -> pd.DataFrame:
    mask = (events["day"] >= start) & (events["day"] <= end)
    if channel is not None:
        mask &= events["channel"] == channel
    return events[mask]


def reference_orders(purchases: pd.DataFrame) -> int:
    return int(purchases["order_id"].dropna().nunique() + purchases["order_id"].isna().sum())


def reference_kpis(events: pd.DataFrame, start: date, end: date, channel: str | None,
                   first_seen: pd.Series) -> dict:
    days = (end - start).days + 1
    active = within(events, start, end, channel)
    active = active[active["active"]]
    purchases = within(events, start, end, channel).query("event_type == 'purchase'")
    window = events[events["active"]]
    if channel is not None:
        window = window[window["channel"] == channel]
    wau = window[(window["day"] > end - timedelta(days=7)) & (window["day"] <= end)]["user_id"].nunique()
    mau = window[(window["day"] > end - timedelta(days=30)) & (window["day"] <= end)]["user_id"].nunique()
    users = active["user_id"].nunique()
    buyers = active.query("event_type == 'purchase'")["user_id"].nunique()
    return {
        "dau": active.groupby("day")["user_id"].nunique().sum() / days,
        "wau": wau,
        "mau": mau,
        "new_users": int(((first_seen >= start) & (first_seen <= end)).sum()),
        "orders": reference_orders(purchases),
        "gmv": float(purchases["amount"].fillna(0).sum()),
        "conversion_rate": buyers / users if users else 0.0,
    }


def ranges(events: pd.DataFrame) -> list[tuple[date, date]]:
    """The default 30 days, one week, one day, and the whole span."""
    first, last = events["day"].min(), events["day"].max()
    return [(max(first, last - timedelta(days=29)), last), (last - timedelta(days=6), last), (last, last),
            (first, last)]


def busiest_channel(events: pd.DataFrame) -> str | None:
    counts = events["channel"].dropna().value_counts()
    return None if counts.empty else counts.index[0]


# --- the figures -----------------------------------------------------------------------------------

def test_kpi_cards(con):
    events = raw_events(con)
    first_seen = events.groupby("user_id")["day"].min()
    for start, end in ranges(events):
        for channel in (None, busiest_channel(events)):
            engine = metrics.kpis(con, metrics.Period(start, end), channel=channel)
            expected = reference_kpis(events, start, end, channel, first_seen)
            if channel is not None:  # new users by acquisition channel: a user property, compared below
                expected.pop("new_users")
            for key, value in expected.items():
                assert engine[key] == pytest.approx(value, rel=1e-9, abs=1e-6), (key, start, end, channel)


def test_new_users_by_acquisition_channel(con):
    # acquisition channel is the channel of the user's first event (the earliest; ties by any channel)
    events = raw_events(con).sort_values(["event_time"], kind="stable")
    first = events.groupby("user_id").agg(day=("day", "min"))
    users = con.execute("select user_id, acquisition_channel from users").df().set_index("user_id")
    assert users.index.sort_values().equals(first.index.sort_values())  # every user has events, no stray ones
    start, end = ranges(events)[0]
    channel = busiest_channel(events)
    if channel is None:
        pytest.skip("no channel in this export")
    joined = first.join(users)
    expected = int(((joined["day"] >= start) & (joined["day"] <= end)
                    & (joined["acquisition_channel"] == channel)).sum())
    assert metrics.kpis(con, metrics.Period(start, end), channel=channel)["new_users"] == expected


def dense_history_start(events: pd.DataFrame) -> date:
    """The first day with at least 5% of the median day's active users, after the last silence of more
    than 28 days (stray early stamps and an old sample file do not start the history)."""
    daily = events[events["active"]].groupby("day")["user_id"].nunique().sort_index()
    days = pd.Series(pd.to_datetime(daily.index))
    gaps = days.diff().dt.days
    restart = days[gaps > 28].max() if (gaps > 28).any() else days.min()
    dense = daily[(daily >= 0.05 * daily.median()).to_numpy() & (days >= restart).to_numpy()]
    return dense.index.min()


def test_comparison_is_against_a_covered_previous_period(con):
    events = raw_events(con)
    first_day = dense_history_start(events)
    for start, end in ranges(events):
        table = metrics.kpi_comparison(con, metrics.Period(start, end)).set_index("kpi")
        previous_start = start - timedelta(days=(end - start).days + 1)
        if previous_start < first_day:
            assert table["change"].isna().all() and table["previous"].isna().all()
        else:
            before = reference_kpis(events, previous_start, start - timedelta(days=1), None,
                                    events.groupby("user_id")["day"].min())
            assert table["previous"].to_dict() == pytest.approx(before)


def test_daily_series(con):
    events = raw_events(con)
    start, end = ranges(events)[0]
    scoped = within(events, start, end)
    activity = metrics.daily_activity(con, metrics.Period(start, end)).set_index("day")
    activity.index = pd.to_datetime(activity.index).date
    active = scoped[scoped["active"]].groupby("day")["user_id"].nunique()
    purchases = scoped[scoped["event_type"] == "purchase"]
    buyers = purchases.groupby("day")["user_id"].nunique()
    orders = purchases.groupby("day").apply(reference_orders, include_groups=False)
    gmv = purchases.groupby("day")["amount"].sum()
    for day in sorted(scoped["day"].unique()):
        row = activity.loc[day]
        assert (row["active_users"], row["buyers"], row["orders"]) == (
            active.get(day, 0), buyers.get(day, 0), orders.get(day, 0)), day
        assert row["gmv"] == pytest.approx(gmv.get(day, 0.0))
    by_type = metrics.daily_events(con, metrics.Period(start, end))
    by_type["day"] = pd.to_datetime(by_type["day"]).dt.date
    counts = scoped.groupby(["day", "event_type"]).size()
    assert by_type.set_index(["day", "event_type"])["events"].sort_index().to_dict() == counts.sort_index().to_dict()


def test_dau_wau_mau_per_day(con):
    events = raw_events(con)
    start, end = ranges(events)[0]
    engine = metrics.active_users_by_day(con, metrics.Period(start, end)).set_index("day")
    active = events[events["active"]]
    for day in [start, start + (end - start) / 2, end]:
        day = date.fromordinal(int(pd.Timestamp(day).toordinal()))
        for column, width in (("dau", 1), ("wau", 7), ("mau", 30)):
            span = active[(active["day"] > day - timedelta(days=width)) & (active["day"] <= day)]
            assert engine.loc[day, column] == span["user_id"].nunique(), (day, column)


def test_user_360_totals(con):
    from engine.customers.user360 import user_profile

    events = raw_events(con)
    rng = np.random.default_rng(5)
    for user in rng.choice(sorted(events["user_id"].unique()), size=5, replace=False):
        mine = events[events["user_id"] == user]
        purchases = mine[mine["event_type"] == "purchase"]
        totals = user_profile(con, user, tags=pd.DataFrame(columns=["user_id", "tag", "score"]),
                              rfm=pd.DataFrame(columns=["user_id"]))["totals"]
        assert totals["active_days"] == mine.loc[mine["active"], "day"].nunique()
        assert totals["events"] == len(mine)
        assert totals["orders"] == reference_orders(purchases)
        assert totals["gmv"] == pytest.approx(purchases["amount"].fillna(0).sum())


def test_content_totals_and_comments_per_post(con):
    from engine.behaviour.content import content_performance, engagement_summary

    events = raw_events(con)
    start, end = ranges(events)[0]
    scoped = within(events, start, end)
    shown = set(scoped.loc[(scoped["event_type"] == "impression") & scoped["content_id"].notna(), "content_id"])
    comments = scoped[(scoped["event_type"] == "comment") & scoped["content_id"].isin(shown)]
    for by in ("content", "campaign", "channel"):
        performance = content_performance(con, by=by, start=start, end=end)
        if performance.empty:
            assert not shown
            continue
        summary = engagement_summary(con, performance, start=start, end=end)
        assert summary["impressions"] == (scoped["event_type"] == "impression").sum()
        assert summary["clicks"] == (scoped["event_type"] == "click").sum()
        assert summary["posts"] == len(shown)
        assert summary["comments_per_post"] == pytest.approx(len(comments) / len(shown) if shown else 0.0)


def test_weekly_purchase_retention(con):
    from engine.behaviour.retention import RetentionQuery, retention_matrix

    events = raw_events(con)
    start, end = ranges(events)[3]
    buys = events[events["event_type"] == "purchase"].copy()
    if buys.empty:
        pytest.skip("no purchases")
    buys["week"] = pd.to_datetime(buys["day"]).dt.to_period("W-SUN").dt.start_time.dt.date
    cohort = buys.groupby("user_id")["week"].min().rename("cohort")
    weeks = buys[["user_id", "week"]].drop_duplicates().join(cohort, on="user_id")
    weeks["n"] = (pd.to_datetime(weeks["week"]) - pd.to_datetime(weeks["cohort"])).dt.days // 7
    expected = weeks.groupby(["cohort", "n"])["user_id"].nunique()
    matrix = retention_matrix(con, RetentionQuery(period="week", start=start, end=end))
    for row in matrix.itertuples():
        assert row.users == expected.get((row.cohort, row.period), 0), (row.cohort, row.period)
        assert row.cohort_size == expected[(row.cohort, 0)]
    assert set(matrix.loc[matrix["period"] == 0, "cohort"]) == set(cohort)


def reference_funnel(events: pd.DataFrame, steps: tuple[str, ...], start: date, end: date,
                     window: timedelta) -> list[int]:
    """Users reaching each step: enter with a step-1 event on the range's days; each later step is the
    earliest matching event after the previous one, within the window from the entry."""
    relevant = events[events["event_type"].isin(steps)].sort_values("event_time", kind="stable")
    reached = []
    for _, mine in relevant.groupby("user_id"):
        times = {s: mine.loc[mine["event_type"] == s, "event_time"].to_numpy() for s in steps}
        entries = mine[(mine["event_type"] == steps[0]) & (mine["day"] >= start) & (mine["day"] <= end)]
        best = 0
        for t1 in entries["event_time"].to_numpy():
            k, t = 1, t1
            for step in steps[1:]:
                later = times[step][(times[step] > t) & (times[step] <= t1 + np.timedelta64(window))]
                if not len(later):
                    break
                k, t = k + 1, later[0]
            best = max(best, k)
        if best:
            reached.append(best)
    reached = np.array(reached)
    return [int((reached >= k).sum()) for k in range(1, len(steps) + 1)]


def test_view_cart_purchase_funnel(con):
    from engine.behaviour.funnels import FunnelQuery, funnel

    events = raw_events(con)
    start, end = ranges(events)[0]
    steps = ("view", "cart", "purchase")
    result = funnel(con, FunnelQuery(steps=steps, window_days=7, start=start, end=end))
    assert result.steps["users"].tolist() == reference_funnel(events, steps, start, end, timedelta(days=7))


def test_money_sums_are_exact_and_the_same_on_every_run(con):
    from decimal import Decimal

    events = raw_events(con)
    start, end = ranges(events)[3]
    amounts = events.loc[(events["event_type"] == "purchase") & events["amount"].notna(), "amount"]
    exact = float(sum(Decimal(f"{a:.4f}") for a in amounts))  # cents as written, summed without rounding
    runs = {metrics.kpis(con, metrics.Period(start, end))["gmv"] for _ in range(5)}
    assert len(runs) == 1 and runs.pop() == pytest.approx(exact, rel=1e-15, abs=1e-9)


def test_rfm_recency_frequency_monetary(con):
    from engine.customers.rfm import rfm_scores

    events = raw_events(con)
    as_of = events["day"].max()
    window = events[(events["day"] > as_of - timedelta(days=365)) & (events["day"] <= as_of)]
    purchases = window[window["event_type"] == "purchase"]
    refunds = window[window["event_type"] == "refund"].groupby("user_id")["amount"].sum()
    engine = rfm_scores(con).set_index("user_id")
    assert set(engine.index) == set(purchases["user_id"])  # customers: a purchase in the lookback
    for user, mine in list(purchases.groupby("user_id"))[:50]:
        row = engine.loc[user]
        assert row["recency_days"] == (as_of - mine["day"].max()).days
        assert row["monetary"] == pytest.approx(mine["amount"].fillna(0).sum() - refunds.get(user, 0.0))
    # scores are 1-5 and monotone: a more recent customer never scores lower on R
    ordered = engine.sort_values("recency_days")
    assert ordered["r"].is_monotonic_decreasing and engine[["r", "f", "m"]].isin(range(1, 6)).all().all()


def test_weekly_lifecycle(con):
    from engine.behaviour.lifecycle import lifecycle

    events = raw_events(con)
    active = events[events["active"]].copy()
    active["week"] = pd.to_datetime(active["day"]).dt.to_period("W-SUN").dt.start_time.dt.date
    weeks = active.groupby("user_id")["week"].agg(set)
    first_week = active.groupby("user_id")["week"].min()
    # every week from the first active one to the last: a week nobody was active in still has dormant users
    all_weeks = [d.date() for d in pd.date_range(min(active["week"]), max(active["week"]), freq="7D")]
    expected = {}
    for week in all_weeks:
        before = week - timedelta(days=7)
        counts = {"new": 0, "returning": 0, "resurrecting": 0, "dormant": 0}
        for user, mine in weeks.items():
            if week in mine:
                status = "new" if first_week[user] == week else "returning" if before in mine else "resurrecting"
                counts[status] += 1
            elif before in mine:
                counts["dormant"] -= 1
        expected[week] = counts
    frame = lifecycle(con, period="week", start=events["day"].min(), end=events["day"].max())
    for row in frame.itertuples():
        assert row.users == expected[row.period][row.status], (row.period, row.status)


def test_experiment_variants(con):
    from engine.social.experiments import experiment_results, list_experiments

    listed = list_experiments(con)
    if listed.empty:
        pytest.skip("no experiment in this warehouse")
    name = listed["experiment"].iloc[-1]
    assignments = con.execute("select user_id, variant, assigned_at from experiments where experiment = ?",
                              [name]).df()
    events = con.execute("select user_id, event_time, event_type, amount from events").df()
    joined = assignments.merge(events, on="user_id", how="left")
    after = joined[joined["event_time"] >= joined["assigned_at"]]
    bought = set(after.loc[after["event_type"] == "purchase", "user_id"])
    gmv = after[after["event_type"] == "purchase"].groupby("user_id")["amount"].sum()
    variants = experiment_results(con, name).variants.set_index("variant")
    for variant, members in assignments.groupby("variant"):
        users = members["user_id"]
        assert variants.loc[variant, "users"] == len(users)
        assert variants.loc[variant, "conversion"] == pytest.approx(users.isin(bought).mean())
        assert variants.loc[variant, "gmv_per_user"] == pytest.approx(users.map(gmv).fillna(0).mean())


def test_trend_of_events_and_users_per_day(con):
    from engine.behaviour.trends import Series, TrendQuery, trends

    events = raw_events(con)
    start, end = ranges(events)[0]
    scoped = within(events, start, end)
    for measure in ("events", "users"):
        frame = trends(con, TrendQuery((Series("any", measure),), start=start, end=end)).frame.set_index("period")
        actions = scoped[scoped["active"]]
        expected = actions.groupby("day").size() if measure == "events" else actions.groupby("day")["user_id"].nunique()
        for day, value in frame["value"].items():
            assert value == expected.get(day, 0), (measure, day)


def test_cumulative_users_of_the_growth_page(con):
    from engine.predictions.growth import growth_series

    events = raw_events(con)
    first_active = events[events["active"]].groupby("user_id")["day"].min()
    series = growth_series(con, "users").set_index("day")
    for day in list(series.index[::7]) + [series.index[-1]]:
        assert series.loc[day, "value"] == (first_active <= day).sum(), day

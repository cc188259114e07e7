"""The demo generator: seeded, scalable, and holding the effects later pages must find."""

from __future__ import annotations

from datetime import date

import pytest

from engine.errors import PondError
from engine.ingest.demo import build_demo, generate
from engine.store import warehouse

END = date(2026, 6, 1)


def test_same_seed_same_warehouse(tmp_path):
    fingerprints = []
    for name in ("a", "b"):
        with warehouse.connect(tmp_path / f"{name}.duckdb") as con:
            build_demo(con, users=300, days=40, seed=3, end=END)
            fingerprints.append(con.execute(
                "select count(*), sum(amount), min(event_time), max(event_time), "
                "sum(hash(event_id)) from events").fetchone())
    assert fingerprints[0] == fingerprints[1]
    other = generate(300, 40, seed=4, end=END)["events"]
    assert len(other) != fingerprints[0][0]


def test_demo_holds_every_kind_of_data(con):
    summary = build_demo(con, users=400, days=60, seed=7, end=END)
    assert summary.users == 400 and (summary.first_day, summary.last_day) == (date(2026, 4, 2), date(2026, 5, 31))
    types = dict(con.execute("select event_type, count(*) from events group by 1").fetchall())
    assert set(types) == {"signup", "join_group", "impression", "click", "share", "comment", "like", "view",
                          "cart", "fav", "purchase", "refund", "coupon_issue", "coupon_redeem"}
    assert types["signup"] == 400
    assert types["view"] > types["cart"] > types["purchase"] > types["refund"]
    for table in ("users", "items", "contents", "communities", "campaigns", "experiments"):
        assert con.execute(f"select count(*) from {table}").fetchone()[0] > 0, table
    assert con.execute("select count(*) from events where referrer_id is not null").fetchone()[0] > 0
    assert con.execute("select count(*) from users where gender is null or city is null").fetchone() == (0,)
    assert con.execute("select sum(events) from daily_events").fetchone()[0] == summary.events
    first, last = con.execute("select min(day), max(day) from daily_events").fetchone()
    assert date(2026, 4, 2) <= first < date(2026, 4, 10) and last == date(2026, 5, 31)
    assert warehouse.business_timezone(con) == "Asia/Shanghai"
    uploads = con.execute("select format, rows_imported from uploads").fetchall()
    assert uploads == [("demo", summary.events)]
    # every purchase happens after the user signed up, and referrers signed up before the referred
    assert con.execute("""select count(*) from events e join users u using (user_id)
                          where e.event_time < u.first_seen""").fetchone() == (0,)
    assert con.execute("""select count(*) from events e join users r on r.user_id = e.referrer_id
                          where r.first_seen > e.event_time""").fetchone() == (0,)


def test_experiment_effect_and_aa_test(con):
    build_demo(con, users=4000, days=90, seed=11, end=END)
    rates = dict(con.execute("""
        select x.experiment || ':' || x.variant,
               count(distinct e.user_id) / count(distinct x.user_id)
        from experiments x left join events e on e.user_id = x.user_id and e.event_type = 'purchase'
        group by 1""").fetchall())
    assert rates["new_checkout:treatment"] - rates["new_checkout:control"] > 0.04
    assert abs(rates["homepage_banner_aa:A"] - rates["homepage_banner_aa:B"]) < 0.03


def test_users_go_quiet(con):
    build_demo(con, users=1500, days=120, seed=5, end=END)
    # of the users who signed up in the first month, fewer are active in the last month than the second
    early = "(select user_id from users where first_seen < (select min(first_seen) + interval 30 day from users))"
    months = con.execute(f"""select count(distinct user_id) filter (where day between date '2026-03-03' and date '2026-04-01'),
                                    count(distinct user_id) filter (where day >= date '2026-05-02')
                             from user_day where user_id in {early}""").fetchone()
    assert months[1] < months[0]


def test_scale_knobs(tmp_path):
    small = len(generate(100, 30, seed=1, end=END)["events"])
    large = len(generate(1000, 30, seed=1, end=END)["events"])
    assert 6 < large / small < 14


def test_refuses_to_overwrite_unless_asked(con):
    build_demo(con, users=50, days=20, seed=1, end=END)
    with pytest.raises(PondError, match="already holds .* events; .* --replace"):
        build_demo(con, users=50, days=20, seed=1, end=END)
    build_demo(con, users=60, days=20, seed=1, end=END, replace=True)
    assert con.execute("select count(*) from users").fetchone() == (60,)
    with pytest.raises(PondError, match="at least 20 users and 14 days"):
        generate(5, 5)

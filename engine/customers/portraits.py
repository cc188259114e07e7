"""Portraits: who a set of users are, what interests them and how they buy, against everyone.

A portrait compares a saved segment (or everyone) with all users: property shares with lift, the
interest tags (:mod:`engine.customers.tags`) most over-represented among its users, and purchase
habits (order value, hours, weekdays, coupon use, repurchase interval).
"""

from __future__ import annotations

import duckdb
import pandas as pd

from engine.customers.segments import materialise_segment
from engine.customers.tags import interest_tags
from engine.store.warehouse import business_timezone, run_query


def _users(con: duckdb.DuckDBPyConnection, segment: str | None) -> None:
    if segment:
        materialise_segment(con, segment)
        con.execute("create or replace temp table portrait_users as select * from segment_members")
        con.execute("drop table segment_members")
    else:
        con.execute("create or replace temp table portrait_users as select user_id from users")


def portrait(con: duckdb.DuckDBPyConnection, *, segment: str | None = None,
             tags: pd.DataFrame | None = None) -> dict:
    """The portrait of a saved segment (``None``: everyone).

    Returns a dict with ``users`` (count), ``profile`` (field, value, users, share, share_all, lift),
    ``tags`` (tag, users, share, share_all, lift; from ``tags`` or :func:`interest_tags`),
    ``hours`` and ``weekdays`` (purchases per local hour / ISO weekday), and ``habits`` (buyers,
    orders per buyer, order value, coupon share, median repurchase interval in days).
    """
    _users(con, segment)
    try:
        members = {u for (u,) in con.execute("select user_id from portrait_users").fetchall()}
        profile = run_query(con, "portrait_profile")
        profile["lift"] = profile["share"] / profile["share_all"]
        purchases = run_query(con, "portrait_habits", {"tz": business_timezone(con)})
    finally:
        con.execute("drop table if exists portrait_users")
    tags = interest_tags(con) if tags is None else tags
    tag_table = pd.DataFrame(columns=["tag", "users", "share", "share_all", "lift"])
    if not tags.empty and members:
        everyone = tags.groupby("tag")["user_id"].nunique()
        mine = tags[tags["user_id"].isin(members)].groupby("tag")["user_id"].nunique()
        tagged_all = tags["user_id"].nunique()
        tagged_mine = tags.loc[tags["user_id"].isin(members), "user_id"].nunique() or 1
        tag_table = pd.DataFrame({"users": mine, "share": mine / tagged_mine,
                                  "share_all": everyone.reindex(mine.index) / tagged_all})
        tag_table["lift"] = tag_table["share"] / tag_table["share_all"]
        tag_table = tag_table.reset_index().rename(columns={"index": "tag"})
        tag_table = tag_table.sort_values(["users", "lift"], ascending=False).reset_index(drop=True)
    buyers = purchases["user_id"].nunique()
    habits = {
        "buyers": int(buyers),
        "orders_per_buyer": len(purchases) / buyers if buyers else 0.0,
        "order_value": float(purchases["amount"].mean()) if buyers else 0.0,
        "coupon_share": float(purchases["with_coupon"].mean()) if buyers else 0.0,
        "repurchase_days_median": float(purchases["days_since_previous"].median())
        if purchases["days_since_previous"].notna().any() else None,
    }
    hours = purchases.groupby("hour").size().reindex(range(24), fill_value=0).rename("purchases")
    weekdays = purchases.groupby("weekday").size().reindex(range(1, 8), fill_value=0).rename("purchases")
    return {"users": len(members), "profile": profile, "tags": tag_table, "habits": habits,
            "hours": hours.reset_index(), "weekdays": weekdays.reset_index()}

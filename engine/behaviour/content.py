"""Content and campaign performance: CTR, share and comment rates with Wilson intervals, conversions.

Rates are per impression: CTR = clicks / impressions, share rate = shares / impressions, comment
rate = comments / impressions, each with a Wilson 95% interval (honest for small counts). A
*conversion* is a user whose first click on the content (campaign, channel) in the period was
followed by a purchase within ``ATTRIBUTION_DAYS``; conversion rate = conversions / clicking users.
Engagement is read from the ``content_day`` rollup; conversions need the click and purchase times.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import duckdb
import pandas as pd

from engine.errors import PondError
from engine.stats import wilson_interval
from engine.store.warehouse import business_timezone, load_query, read_sql, run_query

BY = ("content", "campaign", "channel")
ATTRIBUTION_DAYS = 7
NO_KEY = {"content": "(no content)", "campaign": "(no campaign)", "channel": "(no channel)"}


def _params(con: duckdb.DuckDBPyConnection, by: str, start: date | None, end: date | None,
            channel: str | None) -> dict:
    if by not in BY:
        raise PondError(f"group by one of {', '.join(BY)}, not {by!r}")
    first, last = con.execute("select min(day), max(day) from daily_events").fetchone()
    start, end = start or first or date(1970, 1, 1), end or last or date(1970, 1, 1)
    if end < start:
        raise PondError(f"the period ends ({end}) before it starts ({start})")
    return {"by": by, "start": start, "end": end, "channel": channel, "tz": business_timezone(con),
            "lo": datetime.combine(start, time()) - timedelta(days=1),
            "hi": datetime.combine(end, time()) + timedelta(days=2),
            "attribution": timedelta(days=ATTRIBUTION_DAYS)}


def add_rates(frame: pd.DataFrame) -> pd.DataFrame:
    """Add each rate with its Wilson 95% interval (``<rate>_low``, ``<rate>_high``)."""
    out = frame.copy()
    for rate, hits, base in (("ctr", "clicks", "impressions"), ("share_rate", "shares", "impressions"),
                             ("comment_rate", "comments", "impressions"),
                             ("conversion_rate", "conversions", "clickers")):
        n = out[base].astype(float)
        out[rate] = out[hits].astype(float).div(n.where(n > 0))
        out[f"{rate}_low"], out[f"{rate}_high"] = wilson_interval(out[hits], out[base])
    return out


def content_performance(con: duckdb.DuckDBPyConnection, *, by: str = "content", start: date | None = None,
                        end: date | None = None, channel: str | None = None) -> pd.DataFrame:
    """One row per content item, campaign or channel with counts, rates and intervals.

    Columns: ``key, label, impressions, clicks, shares, comments, likes, clickers, conversions``,
    then ``ctr, share_rate, comment_rate, conversion_rate`` each with ``_low``/``_high``.
    Sorted by impressions, most first.
    """
    frame = run_query(con, "content_performance", _params(con, by, start, end, channel))
    frame["key"] = frame["key"].fillna(NO_KEY[by])
    frame.insert(1, "label", _labels(con, by, frame["key"]))
    if by == "content":
        kinds = dict(con.execute("select content_id, kind from contents").fetchall())
        frame.insert(2, "kind", frame["key"].map(kinds))
    frame = add_rates(frame).sort_values(["impressions", "key"], ascending=[False, True])
    return frame.reset_index(drop=True)


def _labels(con: duckdb.DuckDBPyConnection, by: str, keys: pd.Series) -> pd.Series:
    if by == "content":
        names = dict(con.execute("select content_id, coalesce(title, content_id) from contents").fetchall())
    elif by == "campaign":
        names = dict(con.execute("select campaign_id, coalesce(name, campaign_id) from campaigns").fetchall())
    else:
        names = {}
    return keys.map(lambda k: names.get(k, k))


def content_trend(con: duckdb.DuckDBPyConnection, *, by: str = "content", key: str | None = None,
                  start: date | None = None, end: date | None = None, channel: str | None = None
                  ) -> pd.DataFrame:
    """Daily impressions, clicks, shares, comments and CTR (with interval), for all or one group."""
    params = {**_params(con, by, start, end, channel), "key": key}
    frame = run_query(con, "content_trend", params)
    frame["ctr"] = frame["clicks"] / frame["impressions"].where(frame["impressions"] > 0)
    frame["ctr_low"], frame["ctr_high"] = wilson_interval(frame["clicks"], frame["impressions"])
    return frame


def top_and_bottom(performance: pd.DataFrame, *, metric: str = "ctr", min_impressions: int = 100,
                   n: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Best and worst groups by ``metric`` among those with at least ``min_impressions``.

    Ties are broken by the interval's lower bound (best) or upper bound (worst), so a rate backed by
    more impressions ranks ahead of the same rate backed by fewer.
    """
    eligible = performance[(performance["impressions"] >= min_impressions) & performance[metric].notna()]
    top = eligible.sort_values([metric, f"{metric}_low"], ascending=[False, False]).head(n)
    bottom = eligible.sort_values([metric, f"{metric}_high"], ascending=[True, True]).head(n)
    return top.reset_index(drop=True), bottom.reset_index(drop=True)


def engagement_summary(con: duckdb.DuckDBPyConnection, performance: pd.DataFrame, *, start: date | None = None,
                       end: date | None = None, channel: str | None = None) -> dict:
    """Totals over all groups of ``performance``, overall rates, and comments per post.

    A *post* is a content item with at least one impression in the period; comments per post is the
    comments on those items divided by their number, the same whether ``performance`` is grouped by
    content, campaign or channel (``posts`` and ``post_comments`` in the result).
    """
    totals = performance[["impressions", "clicks", "shares", "comments", "clickers", "conversions"]].sum()
    summary = add_rates(totals.to_frame().T).iloc[0].to_dict()
    params = _params(con, "content", start, end, channel)
    posts, comments = run_query(con, "content_posts", params).iloc[0][["posts", "comments"]].astype(int)
    summary["posts"], summary["post_comments"] = int(posts), int(comments)
    summary["comments_per_post"] = comments / posts if posts else 0.0
    return summary


#: the figures of a content breakdown, in order
BREAKDOWN_COLUMNS = ("impressions", "clicks", "shares", "comments", "clickers", "conversions", "ctr", "share_rate",
                     "comment_rate", "conversion_rate", "posts", "comments_per_post")


def engagement_breakdown(con: duckdb.DuckDBPyConnection, prop: str, *, start: date | None = None,
                         end: date | None = None, channel: str | None = None, limit: int = 5) -> pd.DataFrame:
    """The totals and rates of :func:`engagement_summary` for the whole and for each value of ``prop``
    (see :mod:`engine.behaviour.breakdowns`), in one pass over the events; buckets without impressions are left out."""
    from engine.behaviour.breakdowns import ALL, NONE, OTHER, column_of, top_values

    params = _params(con, "channel", start, end, channel)
    start, end = params["start"], params["end"]
    top = top_values(con, prop, start, end, limit)
    # purchases up to the attribution window after the last day can still convert a click
    params = {**params, "top": top or [""], "hi": params["hi"] + params["attribution"]}
    sql = load_query("engagement_breakdown").replace("{value}", column_of(prop))
    split = read_sql(con, sql, params).df().set_index("breakdown")
    whole = engagement_summary(con, content_performance(con, by="channel", start=start, end=end, channel=channel),
                               start=start, end=end, channel=channel)
    rows = [{"breakdown": ALL, **whole}]
    for label in [*top, OTHER, NONE]:
        if label in split.index and split.loc[label, "impressions"] > 0:
            row = add_rates(split.loc[[label]]).iloc[0].to_dict()
            row["comments_per_post"] = row["post_comments"] / row["posts"] if row["posts"] else 0.0
            rows.append({"breakdown": label, **row})
    return pd.DataFrame(rows)[["breakdown", *BREAKDOWN_COLUMNS]]

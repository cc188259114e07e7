"""Content, campaign and channel performance on a hand-made warehouse with exact numbers.

  c1 (campaign k1, douyin): impressions by u1-u4; clicks u1 (01-01 10:00), u2 (01-01 11:00);
                            a share by u1 and a comment by u2
  c2 (no campaign, wechat): impressions by u1, u2; a click by u1 (01-04); comments by u1 and u2
  purchases: u1 on 01-03 (2 days after the c1 click, before the c2 click), u2 on 01-11 (10 days)
"""

from __future__ import annotations

from datetime import date

import pytest

from engine.behaviour.content import content_performance, content_trend, engagement_summary, top_and_bottom
from engine.errors import PondError
from engine.ingest import import_file
from engine.stats import wilson_interval

EVENTS = """user_id,event_type,event_time,content_id,campaign_id,channel
u1,impression,2024-01-01 09:00:00,c1,k1,douyin
u2,impression,2024-01-01 09:00:00,c1,k1,douyin
u3,impression,2024-01-01 09:00:00,c1,k1,douyin
u4,impression,2024-01-02 09:00:00,c1,k1,douyin
u1,click,2024-01-01 10:00:00,c1,k1,douyin
u2,click,2024-01-01 11:00:00,c1,k1,douyin
u1,share,2024-01-01 10:01:00,c1,k1,douyin
u2,comment,2024-01-01 11:01:00,c1,k1,douyin
u1,impression,2024-01-04 09:00:00,c2,,wechat
u2,impression,2024-01-04 09:00:00,c2,,wechat
u1,click,2024-01-04 10:00:00,c2,,wechat
u1,comment,2024-01-04 10:01:00,c2,,wechat
u2,comment,2024-01-04 10:02:00,c2,,wechat
u1,purchase,2024-01-03 10:00:00,,,
u2,purchase,2024-01-11 12:00:00,,,
"""
COUNTS = ["key", "impressions", "clicks", "shares", "comments", "clickers", "conversions"]
WEEK = {"start": date(2024, 1, 1), "end": date(2024, 1, 7)}


@pytest.fixture
def shop(con, write):
    import_file(con, write("events.csv", EVENTS))
    return con


def test_per_content_counts_rates_and_conversions(shop):
    perf = content_performance(shop, by="content", **WEEK)
    assert perf[COUNTS].values.tolist() == [["c1", 4, 2, 1, 1, 2, 1], ["c2", 2, 1, 0, 2, 1, 0]]
    c1 = perf.iloc[0]
    assert (c1.ctr, c1.share_rate, c1.comment_rate, c1.conversion_rate) == (0.5, 0.25, 0.25, 0.5)
    low, high = wilson_interval(2, 4)
    assert (c1.ctr_low, c1.ctr_high) == (pytest.approx(float(low)), pytest.approx(float(high)))
    assert perf.iloc[1].comment_rate == 1.0


def test_per_campaign_and_channel(shop):
    assert content_performance(shop, by="campaign", **WEEK)[COUNTS].values.tolist() == [
        ["k1", 4, 2, 1, 1, 2, 1], ["(no campaign)", 2, 1, 0, 2, 1, 0]]
    channels = content_performance(shop, by="channel", **WEEK)
    assert channels[["key", "impressions", "conversions"]].values.tolist() == [["douyin", 4, 1], ["wechat", 2, 0]]
    only = content_performance(shop, by="content", channel="wechat", **WEEK)
    assert only["key"].tolist() == ["c2"]


def test_period_limits_engagement(shop):
    perf = content_performance(shop, by="content", start=date(2024, 1, 2), end=date(2024, 1, 2))
    assert perf[["key", "impressions", "clicks"]].values.tolist() == [["c1", 1, 0]]
    assert perf.iloc[0].conversion_rate != perf.iloc[0].conversion_rate  # NaN: nobody clicked


def test_summary_and_comments_per_post(shop):
    summary = engagement_summary(shop, content_performance(shop, **WEEK), **WEEK)
    assert (summary["impressions"], summary["clicks"], summary["comments"], summary["posts"]) == (6, 3, 3, 2)
    assert summary["ctr"] == 0.5 and summary["comments_per_post"] == 1.5


def test_comments_per_post_do_not_depend_on_the_grouping(con, write):
    # three posts of one campaign with 1, 2 and 3 comments, and a comment that is on no post
    rows = ["user_id,event_type,event_time,content_id,campaign_id,channel"]
    for k, post in enumerate(("p1", "p2", "p3"), start=1):
        rows.append(f"u0,impression,2024-01-01 09:00:00,{post},k1,douyin")
        rows += [f"u{j},comment,2024-01-01 1{j}:00:00,{post},k1,douyin" for j in range(1, k + 1)]
    rows.append("u9,comment,2024-01-02 10:00:00,,k1,douyin")
    import_file(con, write("posts.csv", "\n".join(rows) + "\n"))
    for by in ("content", "campaign", "channel"):
        summary = engagement_summary(con, content_performance(con, by=by, **WEEK), **WEEK)
        assert (summary["posts"], summary["post_comments"], summary["comments_per_post"]) == (3, 6, 2.0), by


def test_top_and_bottom_respect_the_impression_threshold(shop):
    perf = content_performance(shop, **WEEK)
    top, bottom = top_and_bottom(perf, min_impressions=3)
    assert top["key"].tolist() == ["c1"] and bottom["key"].tolist() == ["c1"]
    top, bottom = top_and_bottom(perf, metric="comment_rate", min_impressions=1)
    assert top["key"].tolist() == ["c2", "c1"] and bottom["key"].tolist() == ["c1", "c2"]


def test_daily_trend(shop):
    trend = content_trend(shop, **WEEK)
    trend["day"] = trend["day"].dt.date
    assert trend[["day", "impressions", "clicks"]].values.tolist() == [
        [date(2024, 1, 1), 3, 2], [date(2024, 1, 2), 1, 0], [date(2024, 1, 4), 2, 1]]
    one = content_trend(shop, by="content", key="c2", **WEEK)
    assert one["impressions"].tolist() == [2]


def test_bad_grouping_is_refused(shop):
    with pytest.raises(PondError, match="group by one of content, campaign, channel"):
        content_performance(shop, by="author")

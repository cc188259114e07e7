"""A seeded, realistic social-commerce warehouse for demos, tests and benchmarks.

What it holds, so that every page has something true to show:

- users acquired along an S-shaped (logistic) curve through WeChat groups, the official account,
  the mini-program, Douyin, Xiaohongshu and referral shares, with gender, age band and city;
- referral chains: a few "key sharers" bring in most referred users (share -> signup with
  ``referrer_id``), so cascades and reach exist;
- communities (private groups) that members join, with group posts and comments;
- content (articles, videos, notes, lives, group posts) with impressions, clicks, shares,
  comments and likes at per-content click-through rates;
- items in categories with tags and prices; users favour one category, so purchases repeat;
- view -> cart -> purchase funnels, orders with quantities and amounts, some refunds;
- campaigns that issue coupons; redeemers buy at a discount within the campaign window;
- an A/B experiment ``new_checkout`` whose treatment raises purchase probability by 30%, and an
  A/A experiment ``homepage_banner_aa`` with no effect;
- users who go quiet: each has a lifetime after which they stop (longer for referral and group
  members), plus a loyal core that never leaves.

Everything is vectorised with NumPy; ``users`` and ``days`` scale it from about 10k to 10M events
(roughly 60-70 events per user over 120 days).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd

from engine.customers.tags import refresh_after_write
from engine.errors import PondError
from engine.store.warehouse import ROLLUPS, execute_query, rebuild_rollups, refresh_user_activity, write_transaction

CHANNELS = ("wechat_group", "official_account", "mini_program", "douyin", "xiaohongshu", "referral")
CHANNEL_SHARE = (0.24, 0.15, 0.20, 0.16, 0.10, 0.15)
CHANNEL_LIFETIME = (1.5, 1.0, 1.1, 0.6, 0.8, 1.6)  # relative mean lifetime: groups and referrals stick
CHANNEL_GROUP_JOIN = (0.9, 0.3, 0.3, 0.15, 0.2, 0.5)
EVENT_CODES = ("signup", "join_group", "impression", "click", "share", "comment", "like", "view",
               "cart", "fav", "purchase", "refund", "coupon_issue", "coupon_redeem")
CATEGORIES = {
    "skincare": ("hydrating", "anti-aging", "sensitive-skin", "whitening"),
    "baby": ("organic", "newborn", "toddler", "safety"),
    "snacks": ("spicy", "healthy", "imported", "sweet"),
    "apparel": ("casual", "sport", "office", "streetwear"),
    "home": ("storage", "kitchen", "smart-home", "cleaning"),
    "digital": ("audio", "phone-accessory", "wearable", "gaming"),
    "personal_care": ("oral", "hair", "body", "fragrance"),
    "pet": ("cat", "dog", "treats", "toys"),
    "sports": ("yoga", "running", "outdoor", "fitness"),
    "drinks": ("tea", "coffee", "baijiu", "wine"),
    "books": ("kids", "business", "fiction", "study"),
    "fresh": ("fruit", "seafood", "meat", "vegetable"),
}
PRICE_MEDIAN = (120, 90, 35, 160, 70, 260, 55, 80, 140, 110, 45, 75)
CITIES = ("Shanghai", "Beijing", "Guangzhou", "Shenzhen", "Hangzhou", "Chengdu", "Wuhan", "Nanjing",
          "Xi'an", "Suzhou", "Chongqing", "Changsha")
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
CONTENT_KINDS = {"wechat_group": "group_post", "official_account": "article", "mini_program": "banner",
                 "douyin": "video", "xiaohongshu": "note", "referral": "live"}
# Shoppers' local hours (Asia/Shanghai): lunch and evening peaks.
HOUR_WEIGHTS = np.array([1, .5, .3, .2, .2, .3, .8, 2, 3, 3, 3, 4, 5, 4, 3, 3, 3, 4, 5, 6, 8, 9, 7, 3])
UTC_OFFSET_HOURS = 8
N_COMMUNITIES = 12
N_CAMPAIGNS = 6
EXPERIMENT_LIFT = 1.3

Progress = Callable[[float, str], None]


@dataclass
class DemoSummary:
    users: int
    events: int
    items: int
    contents: int
    first_day: date
    last_day: date
    seconds: float


def _pick(rng: np.random.Generator, options: tuple, p: tuple | np.ndarray | None, n: int) -> np.ndarray:
    return rng.choice(len(options), size=n, p=p)


def _logistic_signups(rng: np.random.Generator, n: int, days: int) -> np.ndarray:
    """Signup times (days, fractional) from a logistic curve truncated to the window."""
    r, c = 9.0 / days, 0.45 * days
    lo, hi = 1 / (1 + np.exp(r * c)), 1 / (1 + np.exp(-r * (days - c)))
    u = rng.uniform(lo, hi, n)
    return np.sort(np.clip(c + np.log(u / (1 - u)) / r, 0, days - 1e-6))


def _paired_assignment(rng: np.random.Generator, score: np.ndarray) -> np.ndarray:
    """0/1 arms: neighbours in ``score`` order form pairs, and a coin decides who gets arm 1."""
    order = np.argsort(score, kind="stable")
    coin = rng.integers(0, 2, (len(score) + 1) // 2)
    arm = np.empty(len(score), dtype=np.int64)
    arm[order] = (np.arange(len(score)) + np.repeat(coin, 2)[: len(score)]) % 2
    return arm


def _times_of_day(rng: np.random.Generator, day: np.ndarray) -> np.ndarray:
    hours = rng.choice(24, size=len(day), p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    return np.floor(day) + (hours + rng.random(len(day))) / 24


class _Events:
    """Column buffers of generated events; codes become text in SQL on insert."""

    columns = ("t", "uid", "etype", "item", "content", "campaign", "chan", "grp", "referrer",
               "sess", "order_no", "quantity", "amount")
    aliases = {"user": "uid", "type": "etype", "channel": "chan", "community": "grp",
               "session": "sess", "order": "order_no"}

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, **cols) -> None:
        cols = {self.aliases.get(k, k): v for k, v in cols.items()}
        n = int(cols["t"].shape[0])
        if n == 0:
            return
        part = {}
        for name in self.columns:
            value = cols.get(name)
            if value is None:
                value = np.full(n, np.nan if name in ("quantity", "amount") else -1)
            elif np.isscalar(value):
                value = np.full(n, value)
            part[name] = value
        self.parts.append(part)

    def frame(self, days: int) -> pd.DataFrame:
        """All events before the end of the window (follow-ups of late sessions fall past it)."""
        data = {}
        for name in self.columns:
            arrays = [p[name] for p in self.parts]
            # codes and ids fit in 32 bits; at 10M events that halves the frame
            dtype = np.float64 if name in ("t", "amount") else np.float32 if name == "quantity" else np.int32
            data[name] = np.concatenate(arrays).astype(dtype, copy=False)
            for part in self.parts:  # free each buffer as soon as it is copied
                part.pop(name)
        frame = pd.DataFrame(data, copy=False)
        return frame[frame["t"] < days].reset_index(drop=True)


def generate(users: int = 2000, days: int = 120, seed: int = 7, end: date | None = None) -> dict:
    """Generate the demo tables as DataFrames (events carry integer codes; see :func:`build_demo`)."""
    if users < 20 or days < 14:
        raise PondError("the demo needs at least 20 users and 14 days")
    rng = np.random.default_rng(seed)
    end = end or datetime.utcnow().date()
    start = end - timedelta(days=days)
    n = users

    # --- users ---------------------------------------------------------------------------------
    signup = _logistic_signups(rng, n, days)
    channel = _pick(rng, CHANNELS, CHANNEL_SHARE, n)
    lifetime = rng.exponential(40.0, n) * np.take(CHANNEL_LIFETIME, channel)
    lifetime[rng.random(n) < 0.15] = 10 * days  # the loyal core never leaves
    rate = rng.gamma(1.6, 0.18, n)  # sessions per active day
    propensity = rng.beta(2, 6, n)
    favourite = rng.integers(0, len(CATEGORIES), n)
    # blocked randomisation: users paired by purchase propensity, one of each pair per arm, so
    # that chance imbalance cannot fake (or hide) an effect
    checkout_variant = _paired_assignment(rng, propensity)
    aa_variant = _paired_assignment(rng, propensity)
    member = rng.random(n) < np.take(CHANNEL_GROUP_JOIN, channel)
    group_weights = rng.pareto(1.5, N_COMMUNITIES) + 0.2
    community = np.where(member, rng.choice(N_COMMUNITIES, n, p=group_weights / group_weights.sum()), -1)

    # Referrals: a few key sharers (Pareto weights) who joined earlier bring in referred users.
    sharer_weight = np.where(rng.random(n) < 0.08, rng.pareto(1.2, n) + 1, 0.0)
    cum = np.cumsum(sharer_weight)
    referrer = np.full(n, -1)
    referred = np.flatnonzero((np.take(CHANNELS, channel) == "referral") & (np.arange(n) > 0))
    referred = referred[cum[referred - 1] > 0]
    referrer[referred] = np.searchsorted(cum, rng.random(len(referred)) * cum[referred - 1], side="right")
    referrer = np.minimum(referrer, np.arange(n) - 1)  # always someone who signed up before
    referrer[np.flatnonzero(~np.isin(np.arange(n), referred))] = -1

    # --- catalogue, content, campaigns --------------------------------------------------------
    n_items = int(np.clip(n // 4, 60, 20000))
    item_cat = rng.integers(0, len(CATEGORIES), n_items)
    item_price = np.round(np.take(PRICE_MEDIAN, item_cat) * rng.lognormal(0, 0.5, n_items), 1)
    by_cat = np.argsort(item_cat, kind="stable")
    cat_start = np.searchsorted(item_cat[by_cat], np.arange(len(CATEGORIES)))
    cat_size = np.bincount(item_cat, minlength=len(CATEGORIES))

    n_contents = int(max(40, 2 * days + n // 40))
    content_pub = np.sort(rng.uniform(-5, days, n_contents))
    content_channel = _pick(rng, CHANNELS, (0.3, 0.2, 0.1, 0.2, 0.15, 0.05), n_contents)
    content_ctr = rng.beta(2, 28, n_contents) * np.where(np.take(CHANNELS, content_channel) == "wechat_group",
                                                         1.8, 1.0)
    content_community = np.where(np.take(CHANNELS, content_channel) == "wechat_group",
                                 rng.integers(0, N_COMMUNITIES, n_contents), -1)
    camp_start = np.sort(rng.uniform(0.1 * days, 0.85 * days, N_CAMPAIGNS))
    camp_end = camp_start + rng.uniform(5, 14, N_CAMPAIGNS)
    content_campaign = np.full(n_contents, -1)
    for k in range(N_CAMPAIGNS):
        inside = (content_pub >= camp_start[k]) & (content_pub <= camp_end[k]) & (rng.random(n_contents) < .5)
        content_campaign[inside] = k

    ev = _Events()
    # --- signups, group joins, the shares that brought referred users --------------------------
    ids = np.arange(n)
    ev.add(t=signup, user=ids, type=0, channel=channel, referrer=referrer)
    joined = np.flatnonzero(member)
    ev.add(t=signup[joined] + rng.uniform(0.001, 0.05, len(joined)), user=joined, type=1,
           channel=channel[joined], community=community[joined])
    ref = np.flatnonzero(referrer >= 0)
    share_t = np.maximum(signup[ref] - rng.uniform(0.002, 0.5, len(ref)), signup[referrer[ref]])
    published = np.maximum(np.searchsorted(content_pub, share_t), 1)
    ev.add(t=share_t, user=referrer[ref], type=4,
           content=np.floor(rng.random(len(ref)) * published).astype(int),
           channel=channel[referrer[ref]])

    # --- sessions ------------------------------------------------------------------------------
    span = np.clip(np.minimum(lifetime, days - signup), 0.05, None)
    n_sessions = 1 + rng.poisson(rate * span)
    s_user = np.repeat(ids, n_sessions)
    first = np.cumsum(n_sessions) - n_sessions
    s_t = _times_of_day(rng, signup[s_user] + rng.random(len(s_user)) * span[s_user])
    s_t[first] = signup + 0.001
    s_t = np.clip(s_t, 0, days - 1e-6)
    s_channel = np.where(rng.random(len(s_user)) < 0.75, channel[s_user],
                         _pick(rng, CHANNELS[:-1], None, len(s_user)))
    s_id = np.arange(len(s_user))

    # impressions of recent content, with clicks, shares, comments and likes
    k_imp = rng.poisson(3.0, len(s_user))
    i_s = np.repeat(s_id, k_imp)
    i_t = s_t[i_s] + rng.uniform(0, 0.01, len(i_s))
    n_pub = np.searchsorted(content_pub, i_t)
    keep = n_pub > 0
    i_s, i_t, n_pub = i_s[keep], i_t[keep], n_pub[keep]
    i_content = np.clip(n_pub - 1 - np.floor(rng.exponential(12, len(i_s))).astype(int), 0, None)
    i_user = s_user[i_s]
    common = dict(user=i_user, content=i_content, channel=content_channel[i_content],
                  campaign=content_campaign[i_content], community=content_community[i_content],
                  session=i_s)
    ev.add(t=i_t, type=2, **common)
    clicked = rng.random(len(i_s)) < content_ctr[i_content]
    for code, p, lag in ((3, 1.0, 0.0005), (4, 0.07, 0.002), (5, 0.09, 0.003), (6, 0.2, 0.001)):
        mask = clicked & (rng.random(len(i_s)) < p)
        ev.add(t=i_t[mask] + lag, type=code, **{k: v[mask] for k, v in common.items()})

    # item views, carts, favourites, purchases
    k_view = 1 + rng.poisson(1.6, len(s_user))
    v_s = np.repeat(s_id, k_view)
    v_user = s_user[v_s]
    v_t = s_t[v_s] + rng.uniform(0.0005, 0.02, len(v_s))
    own_cat = rng.random(len(v_s)) < 0.65
    cat = np.where(own_cat, favourite[v_user], rng.integers(0, len(CATEGORIES), len(v_s)))
    rank = np.floor(cat_size[cat] * rng.random(len(v_s)) ** 3).astype(int)  # a few items dominate
    v_item = by_cat[cat_start[cat] + np.minimum(rank, cat_size[cat] - 1)]
    v_channel = s_channel[v_s]
    ev.add(t=v_t, user=v_user, type=7, item=v_item, channel=v_channel, session=v_s)
    faved = rng.random(len(v_s)) < 0.05
    ev.add(t=v_t[faved] + 0.001, user=v_user[faved], type=9, item=v_item[faved],
           channel=v_channel[faved], session=v_s[faved])
    carted = rng.random(len(v_s)) < 0.10 + 0.25 * propensity[v_user]
    c_idx = np.flatnonzero(carted)
    c_t = v_t[c_idx] + rng.uniform(0.001, 0.01, len(c_idx))
    ev.add(t=c_t, user=v_user[c_idx], type=8, item=v_item[c_idx], channel=v_channel[c_idx],
           session=v_s[c_idx])
    lift = np.where(checkout_variant[v_user[c_idx]] == 1, EXPERIMENT_LIFT, 1.0)
    bought = rng.random(len(c_idx)) < np.clip(0.15 + 0.9 * propensity[v_user[c_idx]], 0, 0.8) * lift / 1.3
    b_idx = c_idx[bought]
    b_user, b_item = v_user[b_idx], v_item[b_idx]
    b_t = np.minimum(c_t[bought] + rng.exponential(0.03, len(b_idx)), days - 1e-6)
    qty = 1 + rng.poisson(0.3, len(b_idx))
    amount = item_price[b_item] * qty

    # coupons: each campaign issues to a third of the users active at its start
    b_campaign = np.full(len(b_idx), -1)
    for k in range(N_CAMPAIGNS):
        alive = np.flatnonzero((signup < camp_start[k]) & (signup + lifetime > camp_start[k]))
        issued = alive[rng.random(len(alive)) < 0.33]
        ev.add(t=camp_start[k] + rng.uniform(0, 0.5, len(issued)), user=issued, type=12,
               campaign=k, channel=1)
        eligible = (np.isin(b_user, issued) & (b_t >= camp_start[k]) & (b_t <= camp_end[k])
                    & (b_campaign < 0) & (rng.random(len(b_idx)) < 0.55))
        b_campaign[eligible] = k
    coupon = b_campaign >= 0
    amount = np.round(np.where(coupon, amount * 0.85, amount), 2)
    order = np.arange(len(b_idx))
    ev.add(t=b_t, user=b_user, type=10, item=b_item, channel=v_channel[b_idx],
           campaign=b_campaign, session=v_s[b_idx], order=order, quantity=qty, amount=amount)
    ev.add(t=b_t[coupon], user=b_user[coupon], type=13, campaign=b_campaign[coupon],
           channel=v_channel[b_idx][coupon], order=order[coupon])
    refunded = (rng.random(len(b_idx)) < 0.04)
    r_t = b_t + rng.uniform(1, 7, len(b_idx))
    refunded &= r_t < days
    ev.add(t=r_t[refunded], user=b_user[refunded], type=11, item=b_item[refunded],
           channel=v_channel[b_idx][refunded], order=order[refunded], quantity=qty[refunded],
           amount=amount[refunded])

    user_frame = pd.DataFrame({
        "uid": ids, "signup": signup, "channel": channel,
        "gender": rng.choice(2, n, p=(0.62, 0.38)), "age_band": rng.choice(len(AGE_BANDS), n,
                                                                          p=(.22, .38, .22, .12, .06)),
        "city": rng.choice(len(CITIES), n),
        "checkout_variant": checkout_variant, "aa_variant": aa_variant,
    })
    tag_pools = list(CATEGORIES.values())
    item_tags = [",".join(rng.choice(tag_pools[c], 2, replace=False)) for c in item_cat]
    item_frame = pd.DataFrame({"item": np.arange(n_items), "category": item_cat, "price": item_price,
                               "tags": item_tags})
    content_frame = pd.DataFrame({"content": np.arange(n_contents), "published": content_pub,
                                  "channel": content_channel, "community": content_community,
                                  "campaign": content_campaign})
    campaign_frame = pd.DataFrame({"campaign": np.arange(N_CAMPAIGNS), "start": camp_start,
                                   "end": camp_end})
    community_frame = pd.DataFrame({"community": np.arange(N_COMMUNITIES),
                                    "created": np.sort(rng.uniform(-30, days * 0.5, N_COMMUNITIES))})
    return {"start": start, "end": end, "events": ev.frame(days), "users": user_frame, "items": item_frame,
            "contents": content_frame, "campaigns": campaign_frame, "communities": community_frame}


def build_demo(con: duckdb.DuckDBPyConnection, *, users: int = 2000, days: int = 120, seed: int = 7,
               end: date | None = None, replace: bool = False,
               progress: Progress | None = None) -> DemoSummary:
    """Fill the warehouse with a generated demo, in one transaction.

    Refuses a warehouse that already holds events unless ``replace`` is true, which wipes it.
    """
    progress = progress or (lambda f, m: None)
    began = datetime.now()
    # fetchall drains the result: register() below refuses a connection with one pending
    existing = con.execute("select count(*) from events").fetchall()[0][0]
    if existing and not replace:
        raise PondError(f"the warehouse already holds {existing:,} events; build the demo into another "
                        "file (--warehouse PATH) or pass --replace to wipe this one")
    progress(0.05, f"Generating {users:,} users over {days} days")
    data = generate(users, days, seed, end)
    progress(0.45, f"Writing {len(data['events']):,} events")
    # local (Asia/Shanghai) demo day 0 starts at start - 8 h in UTC
    base = datetime.combine(data["start"], datetime.min.time()) - timedelta(hours=UTC_OFFSET_HOURS)
    params = {"base": base, "seed": str(seed), "channels": list(CHANNELS), "types": list(EVENT_CODES),
              "categories": list(CATEGORIES), "kinds": [CONTENT_KINDS[c] for c in CHANNELS],
              "cities": list(CITIES), "ages": list(AGE_BANDS), "upload_id": 1}
    label = f"demo (seed {seed}, {users:,} users, {days} days)"
    for name in ("events", "users", "items", "contents", "communities", "campaigns"):
        con.register(f"demo_{name}", data[name])
    try:
        with write_transaction(con):
            n_events = _write_demo(con, params, label=label, key=f"demo-{seed}-{users}-{days}-{data['end']}",
                                   began=began, progress=progress)
    finally:
        for name in ("events", "users", "items", "contents", "communities", "campaigns"):
            con.unregister(f"demo_{name}")
    progress(0.95, "Scoring interest tags")
    refresh_after_write(con)
    progress(1.0, "Demo warehouse ready")
    return DemoSummary(users, n_events, len(data["items"]), len(data["contents"]),
                       data["start"], data["end"] - timedelta(days=1),
                       (datetime.now() - began).total_seconds())


def _write_demo(con: duckdb.DuckDBPyConnection, params: dict, *, label: str, key: str,
                began: datetime, progress: Progress) -> int:
    """Replace the warehouse's contents with the registered demo frames; returns the event count."""
    for table in ("events", "users", "items", "contents", "communities", "campaigns", "experiments",
                  "uploads", "upload_rejects", *ROLLUPS):
        con.execute(f"delete from {table}")
    for query in ("demo_insert_events", "demo_insert_users", "demo_insert_items", "demo_insert_contents",
                  "demo_insert_communities", "demo_insert_campaigns", "demo_insert_experiments"):
        execute_query(con, query, params)
    con.execute("create or replace temp table touched_users as select user_id from users")
    refresh_user_activity(con)
    con.execute("drop table touched_users")
    con.execute("update meta set value = 'Asia/Shanghai' where key = 'business_timezone'")
    progress(0.75, "Building rollups")
    rebuild_rollups(con)
    n_events = con.execute("select count(*) from events").fetchone()[0]
    first, last = con.execute("select min(event_time), max(event_time) from events").fetchone()
    con.execute(
        """insert into uploads (upload_id, file_name, sha256, format, rows_read, rows_imported,
            rows_rejected, rows_duplicate, first_event, last_event, imported_by, started_at,
            finished_at, status, message, mapping)
        values (1, ?, ?, 'demo', ?, ?, 0, 0, ?, ?, 'demo', ?, ?, 'imported', ?, ?)""",
        [label, key, n_events, n_events, first, last, began, datetime.now(), "Generated demo data",
         json.dumps({"columns": []})],
    )
    return n_events

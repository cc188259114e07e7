"""Cached access to the warehouse for pages.

Pages never hold a connection: each getter opens the warehouse for one call and closes it, so
the command line can write between two reruns. Results are cached on small arguments plus the
warehouse version, which every import and undo bumps, so a change shows up on the next rerun.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pandas as pd
import streamlit as st

from engine.behaviour import metrics
from engine.customers import filtering
from engine.errors import PondError
from engine.ingest.demo import build_demo
from engine.store import backend, warehouse
from engine.store.filters import parse_condition
from ui.derive import WRITE_LOCK_TIMEOUT, wait_for_derivation

log = logging.getLogger("pond.ui")

#: property filters as their text, each "PROPERTY OPERATOR VALUE" (see engine.store.filters)
Where = tuple[str, ...]
#: Size of the demo generated on first start (about half a million events, a few seconds).
FIRST_START_DEMO = {"users": 6000, "days": 150, "seed": 7}
#: Readers wait less than writers: a page should say "busy" rather than hang.
READ_LOCK_TIMEOUT = 8.0


def warehouse_path() -> str:
    """The warehouse file; on ClickHouse, its URL without the password (the caches' key)."""
    if backend.name() == "clickhouse":
        return backend.describe(backend.clickhouse_url())
    return str(warehouse.default_warehouse_path())


def connect(path: str | None = None, *, timeout: float = READ_LOCK_TIMEOUT):
    return warehouse.connect(path or warehouse_path(), timeout=timeout)


@contextmanager
def _reading(path: str, where: Where = ()):
    """A connection whose reads see the property filters ``where`` (see :mod:`engine.store.scope`)."""
    with connect(path) as con, filtering.applied(tuple(parse_condition(w) for w in where), con=con):
        yield con


def current_version(path: str | None = None) -> int:
    """The warehouse version, read fresh on every rerun (a few milliseconds)."""
    with connect(path) as con:
        return warehouse.data_version(con)


#: warehouses whose leftovers this server process has cleared (once, before anything else opens them)
_cleared: set[str] = set()
_clearing = threading.Lock()


def ensure_warehouse() -> None:
    """Build the demo warehouse, with visible progress, when no warehouse file exists yet; on the
    server's first run, remove what a killed restore or import left beside it. On ClickHouse there
    is no file: its tables come from `python -m engine clickhouse init` or `load`."""
    if backend.name() == "clickhouse":
        return
    path = Path(warehouse_path())
    if path.exists():
        with _clearing:  # other sessions wait: nothing else of this process uses the file meanwhile
            if str(path) not in _cleared:
                _cleared.add(str(path))
                try:
                    with warehouse.connect(path, timeout=2) as con:
                        for leftover in warehouse.remove_leftovers(con):
                            log.warning("removed %s, left by an interrupted restore or import", leftover)
                except PondError:  # busy (another process imports, say): look again on a later run
                    _cleared.discard(str(path))
        return
    with st.status("First start: building a demo warehouse ...", expanded=True) as status:
        bar = st.progress(0.0)

        def progress(fraction: float, message: str) -> None:
            bar.progress(min(fraction, 1.0), text=message)

        with warehouse.connect(path) as con:
            summary = build_demo(con, progress=progress, **FIRST_START_DEMO)
        status.update(label=f"Demo warehouse ready: {summary.events:,} events from {summary.users:,} "
                      f"users in {summary.seconds:.1f} s", state="complete", expanded=False)


@st.cache_data(show_spinner=False, max_entries=32)
def summary(path: str, version: int) -> dict:
    with connect(path) as con:
        return metrics.warehouse_summary(con)


@st.cache_data(show_spinner=False, max_entries=32)
def channels(path: str, version: int) -> list[str]:
    with connect(path) as con:
        return metrics.channels(con)


@st.cache_data(show_spinner=False, max_entries=64)
def kpi_table(path: str, version: int, start: date, end: date, channel: str | None, where: Where = ()) -> pd.DataFrame:
    with _reading(path, where) as con:
        return metrics.kpi_comparison(con, metrics.Period(start, end), channel=channel)


@st.cache_data(show_spinner=False, max_entries=64)
def daily_events(path: str, version: int, start: date, end: date, channel: str | None,
                 where: Where = ()) -> pd.DataFrame:
    with _reading(path, where) as con:
        return metrics.daily_events(con, metrics.Period(start, end), channel=channel)


@st.cache_data(show_spinner=False, max_entries=64)
def daily_activity(path: str, version: int, start: date, end: date, channel: str | None,
                   where: Where = ()) -> pd.DataFrame:
    with _reading(path, where) as con:
        return metrics.daily_activity(con, metrics.Period(start, end), channel=channel)


@st.cache_data(show_spinner="Breaking the key figures down ...", max_entries=32)
def kpi_breakdown(path: str, version: int, start: date, end: date, channel: str | None, by: str,
                  where: Where = ()) -> pd.DataFrame:
    with _reading(path, where) as con:
        return metrics.kpi_breakdown(con, metrics.Period(start, end), by, channel=channel)


@st.cache_data(show_spinner="Breaking the engagement down ...", max_entries=32)
def content_breakdown(path: str, version: int, start: date, end: date, channel: str | None, by: str,
                      where: Where = ()) -> pd.DataFrame:
    from engine.behaviour.content import engagement_breakdown

    with _reading(path, where) as con:
        return engagement_breakdown(con, by, start=start, end=end, channel=channel)


@st.cache_data(show_spinner=False, max_entries=16)
def longest_churn_horizon(path: str, version: int) -> int:
    from engine.predictions.churn import longest_list_horizon

    with connect(path) as con:
        return longest_list_horizon(con)


@st.cache_data(show_spinner="Following users' paths ...", max_entries=32)
def paths(path: str, version: int, query, top: int, where: Where = ()):
    from engine.behaviour.paths import paths as compute

    with _reading(path, where) as con:
        return compute(con, query, top=top)


@st.cache_data(show_spinner="Computing the trend ...", max_entries=64)
def trends(path: str, version: int, query, where: Where = ()):
    from engine.behaviour.trends import trends as compute

    with _reading(path, where) as con:
        return compute(con, query)


@st.cache_data(show_spinner=False, max_entries=64)
def active_users_by_day(path: str, version: int, start: date, end: date, channel: str | None,
                        where: Where = ()) -> pd.DataFrame:
    with _reading(path, where) as con:
        return metrics.active_users_by_day(con, metrics.Period(start, end), channel=channel)


@st.cache_data(show_spinner=False, max_entries=16)
def uploads(path: str, version: int) -> pd.DataFrame:
    from engine.ingest import list_uploads

    with connect(path) as con:
        return list_uploads(con)


@st.cache_data(show_spinner=False, max_entries=16)
def rejects(path: str, version: int, upload_id: int) -> pd.DataFrame:
    from engine.ingest import rejected_rows

    with connect(path) as con:
        return rejected_rows(con, upload_id)


def show_pond_error(exc: PondError) -> None:
    """Show a deliberate engine error and stop the page."""
    from engine.errors import WarehouseLockedError

    if isinstance(exc, WarehouseLockedError):
        st.warning(f"⏳ {exc}")
    else:
        st.error(str(exc))
    st.stop()


@st.cache_data(show_spinner=False, max_entries=16)
def event_types(path: str, version: int) -> list[str]:
    from engine.behaviour.retention import event_types as listed

    with connect(path) as con:
        return listed(con)


@st.cache_data(show_spinner=False, max_entries=32)
def retention_matrix(path: str, version: int, query, where: Where = ()) -> pd.DataFrame:
    from engine.behaviour.retention import retention_matrix as compute

    with _reading(path, where) as con:
        return compute(con, query)


@st.cache_data(show_spinner=False, max_entries=32)
def retention_cell_users(path: str, version: int, query, segment: str, cohort: date, period: int,
                         where: Where = ()) -> pd.DataFrame:
    from engine.behaviour.retention import retention_cell_users as compute

    with _reading(path, where) as con:
        return compute(con, query, segment=segment, cohort=cohort, period=period)


@st.cache_data(show_spinner="Computing the funnel ...", max_entries=32)
def funnel(path: str, version: int, query, where: Where = ()):
    from engine.behaviour.funnels import funnel as compute

    with _reading(path, where) as con:
        return compute(con, query)


@st.cache_data(show_spinner=False, max_entries=32)
def funnel_trend(path: str, version: int, query, period: str, where: Where = ()):
    from engine.behaviour.funnels import funnel_trend as compute

    result = funnel(path, version, query, where)
    with _reading(path, where) as con:
        return compute(con, result, period=period)


@st.cache_data(show_spinner=False, max_entries=32)
def content_performance(path: str, version: int, by: str, start: date, end: date, channel: str | None,
                        where: Where = ()) -> pd.DataFrame:
    from engine.behaviour.content import content_performance as compute

    with _reading(path, where) as con:
        return compute(con, by=by, start=start, end=end, channel=channel)


@st.cache_data(show_spinner=False, max_entries=32)
def content_summary(path: str, version: int, by: str, start: date, end: date, channel: str | None,
                    where: Where = ()) -> dict:
    from engine.behaviour.content import engagement_summary

    performance = content_performance(path, version, by, start, end, channel, where)
    with _reading(path, where) as con:
        return engagement_summary(con, performance, start=start, end=end, channel=channel)


@st.cache_data(show_spinner=False, max_entries=32)
def content_trend(path: str, version: int, by: str, key: str | None, start: date, end: date,
                  channel: str | None, where: Where = ()) -> pd.DataFrame:
    from engine.behaviour.content import content_trend as compute

    with _reading(path, where) as con:
        return compute(con, by=by, key=key, start=start, end=end, channel=channel)


@st.cache_data(show_spinner=False, max_entries=32)
def community_leaderboard(path: str, version: int, start: date, end: date, channel: str | None,
                          where: Where = ()) -> pd.DataFrame:
    from engine.behaviour.communities import community_leaderboard as compute

    with _reading(path, where) as con:
        return compute(con, start=start, end=end, channel=channel)


@st.cache_data(show_spinner=False, max_entries=32)
def community_trend(path: str, version: int, period: str, start: date, end: date, channel: str | None,
                    where: Where = ()) -> pd.DataFrame:
    from engine.behaviour.communities import community_trend as compute

    with _reading(path, where) as con:
        return compute(con, period=period, start=start, end=end, channel=channel)


@st.cache_data(show_spinner=False, max_entries=32)
def lifecycle(path: str, version: int, period: str, start: date, end: date, channel: str | None,
              where: Where = ()) -> pd.DataFrame:
    from engine.behaviour.lifecycle import lifecycle as compute

    with _reading(path, where) as con:
        return compute(con, period=period, start=start, end=end, channel=channel)


@st.cache_data(show_spinner=False, max_entries=32)
def stickiness(path: str, version: int, start: date, end: date, channel: str | None, where: Where = ()) -> pd.DataFrame:
    from engine.behaviour.lifecycle import stickiness as compute

    with _reading(path, where) as con:
        return compute(con, start=start, end=end, channel=channel)


@st.cache_data(show_spinner=False, max_entries=32)
def rfm_scores(path: str, version: int, as_of: date, lookback_days: int, channel: str | None, rules,
               where: Where = ()) -> pd.DataFrame:
    from engine.customers.rfm import rfm_scores as compute

    with _reading(path, where) as con:
        return compute(con, as_of=as_of, lookback_days=lookback_days, channel=channel, rules=rules)


@st.cache_data(show_spinner=False, max_entries=32)
def rfm_transitions(path: str, version: int, as_of: date, period_days: int, lookback_days: int,
                    channel: str | None, rules, where: Where = ()) -> pd.DataFrame:
    from engine.customers.rfm import segment_transitions as compute

    with _reading(path, where) as con:
        return compute(con, as_of=as_of, period_days=period_days, lookback_days=lookback_days,
                       channel=channel, rules=rules)


@st.cache_data(show_spinner=False, max_entries=64)
def segment_users(path: str, version: int, definition_json: str) -> pd.DataFrame:
    from engine.customers.segments import SegmentDefinition
    from engine.customers.segments import segment_users as compute

    with connect(path) as con:
        return compute(con, SegmentDefinition.from_json(definition_json))


@st.cache_data(show_spinner=False, max_entries=64)
def segment_comparison(path: str, version: int, definition_json: str) -> pd.DataFrame:
    from engine.customers.segments import SegmentDefinition, compare_with_everyone

    with connect(path) as con:
        return compare_with_everyone(con, SegmentDefinition.from_json(definition_json))


@st.cache_data(show_spinner=False, max_entries=8)
def user_lists(path: str, version: int) -> list[str]:
    from engine.customers.segments import user_lists as listed

    with connect(path) as con:
        return listed(con)


@st.cache_data(show_spinner=False, max_entries=8)
def saved_segments(path: str, version: int) -> pd.DataFrame:
    from engine.customers.segments import saved_segments as listed

    with connect(path) as con:
        return listed(con)


@st.cache_data(show_spinner=False, max_entries=16)
def property_values(path: str, version: int, field: str) -> list[str]:
    from engine.customers.segments import property_values as listed

    with connect(path) as con:
        return listed(con, field)


@st.cache_data(show_spinner=False, max_entries=8)
def categories(path: str, version: int) -> list[str]:
    from engine.customers.segments import categories as listed

    with connect(path) as con:
        return listed(con)


def write(action, *args, **kwargs):
    """Run an engine write (save or delete a segment ...) on a short-lived writer connection."""
    with connect(timeout=WRITE_LOCK_TIMEOUT) as con:
        return action(con, *args, **kwargs)


def _after_derivation(path: str) -> None:
    """Let this server's background derivation finish before opening the warehouse: waiting with it
    open would hold it as long as the derivation fits (a command-line import would be refused)."""
    wait_for_derivation(str(path))


@st.cache_data(show_spinner="Scoring interest tags ...", max_entries=4)
def interest_tags(path: str, version: int) -> pd.DataFrame:
    from engine.customers.tags import interest_tags as compute
    from engine.customers.tags import tags_derivation_done

    tags_derivation_done()  # a derivation under way: wait for it with the warehouse closed, then load
    with connect(path) as con:
        return compute(con)


@st.cache_data(show_spinner=False, max_entries=16)
def portrait(path: str, version: int, segment: str | None) -> dict:
    from engine.customers.portraits import portrait as compute

    tags = interest_tags(path, version)
    with connect(path) as con:
        return compute(con, segment=segment, tags=tags)


@st.cache_data(show_spinner=False, max_entries=64)
def find_users(path: str, version: int, prefix: str) -> pd.DataFrame:
    from engine.customers.user360 import find_users as compute

    with connect(path) as con:
        return compute(con, prefix)


@st.cache_data(show_spinner=False, max_entries=64)
def user_profile(path: str, version: int, user_id: str) -> dict:
    from engine.customers.rfm import DEFAULT_RULES
    from engine.customers.user360 import user_profile as compute

    # everyone's tags and RFM are cached per version; a lookup only reads one user's rows
    tags = interest_tags(path, version)
    last_day = summary(path, version)["last_day"]
    rfm = rfm_scores(path, version, last_day, 365, None, DEFAULT_RULES) if last_day else None
    with connect(path) as con:
        return compute(con, user_id, tags=tags, rfm=rfm)


@st.cache_data(show_spinner=False, max_entries=64)
def user_timeline(path: str, version: int, user_id: str) -> pd.DataFrame:
    from engine.customers.user360 import user_timeline as compute

    with connect(path) as con:
        return compute(con, user_id)


@st.cache_data(show_spinner=False, max_entries=4)
def tag_names(path: str, version: int) -> list[str]:
    """Interest tags that at least one user has, most common first."""
    tags = interest_tags(path, version)
    return tags["tag"].value_counts().index.tolist()


@st.cache_data(show_spinner=False, max_entries=8)
def experiments(path: str, version: int) -> pd.DataFrame:
    from engine.social.experiments import list_experiments

    with connect(path) as con:
        return list_experiments(con)


@st.cache_data(show_spinner=False, max_entries=16)
def experiment_results(path: str, version: int, name: str, control: str | None):
    from engine.social.experiments import experiment_results as compute

    with connect(path) as con:
        return compute(con, name, control=control)


@st.cache_data(show_spinner=False, max_entries=8)
def campaign_effect(path: str, version: int) -> pd.DataFrame:
    from engine.social.experiments import campaign_effect as compute

    with connect(path) as con:
        return compute(con)


@st.cache_data(show_spinner="Building the share graph ...", max_entries=4)
def share_graph(path: str, version: int):
    from engine.social.network import share_graph as compute

    with connect(path) as con:
        return compute(con)


@st.cache_data(show_spinner=False, max_entries=8)
def k_factor(path: str, version: int, period: str) -> pd.DataFrame:
    from engine.social.network import k_factor as compute

    with connect(path) as con:
        return compute(con, period=period)


@st.cache_data(show_spinner=False, max_entries=8)
def campaign_daily(path: str, version: int) -> pd.DataFrame:
    from engine.social.experiments import campaign_daily as compute

    with connect(path) as con:
        return compute(con)


@st.cache_data(show_spinner=False, max_entries=16)
def growth(path: str, version: int, metric: str, period: str, holdout_days: int, horizon_days: int):
    from engine.predictions.growth import growth_fits

    with connect(path) as con:
        return growth_fits(con, metric=metric, period=period, holdout_days=holdout_days, horizon_days=horizon_days)


@st.cache_data(show_spinner=False, max_entries=16)
def churn_survival(path: str, version: int, inactivity_days: int, basis: str, group: str, segment: str | None):
    from engine.predictions.survival import survival

    with connect(path) as con:
        return survival(con, inactivity_days=inactivity_days, basis=basis, group=group, segment=segment)


@st.cache_data(show_spinner=False, max_entries=8)
def churn_risk(path: str, version: int, horizon_days: int, inactivity_days: int):
    from engine.predictions.churn import stored_churn_risk

    _after_derivation(path)
    with connect(path) as con:
        return stored_churn_risk(con, horizon_days=horizon_days, inactivity_days=inactivity_days)


@st.cache_data(show_spinner=False, max_entries=8)
def purchase_propensity(path: str, version: int, horizon_days: int):
    from engine.predictions.churn import stored_purchase_propensity

    _after_derivation(path)
    with connect(path) as con:
        return stored_purchase_propensity(con, horizon_days=horizon_days)


@st.cache_data(show_spinner=False, max_entries=8)
def churn_evaluation(path: str, version: int, horizon_days: int) -> dict:
    from engine.predictions.churn import stored_churn_evaluation

    _after_derivation(path)
    with connect(path) as con:
        return stored_churn_evaluation(con, horizon_days=horizon_days)


def audit_entries(actor: str | None, action: str | None, since) -> pd.DataFrame:
    """Not cached: the audit trail grows without a new data version."""
    from engine.admin.audit import entries

    with connect() as con:
        return entries(con, actor=actor, action=action, since=since)


def backup_to(dest: Path):
    from engine.admin.backup import backup

    with connect(timeout=WRITE_LOCK_TIMEOUT) as con:
        return backup(con, dest)


def restore_from(src: Path):
    from engine.admin.backup import restore

    with connect(timeout=WRITE_LOCK_TIMEOUT) as con:
        return restore(con, src)

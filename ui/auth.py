"""Sign-in, roles and the audit trail for pages.

Who is signed in lives in the browser session's state; every page and every action asks
:func:`require` on every run, so a link to a page or a replayed widget event does not get past
the role. Without accounts (see :mod:`engine.admin.access`) the dashboard runs in local single-user mode,
and the sidebar says so.
"""

from __future__ import annotations

import logging

import streamlit as st

from engine.admin import access, audit
from engine.admin.access import LOCAL, AccessDenied, User
from engine.errors import PondError, WarehouseLockedError
from engine.store.warehouse import default_warehouse_path
from ui import data

log = logging.getLogger("pond.ui")
SESSION_KEY = "pond_user"


@st.cache_data(show_spinner=False, max_entries=4)
def _roles(path: str, stamp: tuple) -> dict[str, str]:
    return {u["name"]: u["role"] for u in access.list_users(path)}


def roles() -> dict[str, str]:
    """Account name -> role, read again only when the accounts file changes (pages ask many times a run)."""
    path = default_warehouse_path()  # accounts sit beside the DuckDB file's place, on ClickHouse too
    try:
        info = access.users_file(path).stat()
        stamp = (info.st_mtime_ns, info.st_size)
    except OSError:
        stamp = (0, 0)
    return _roles(path, stamp)


def local_mode() -> bool:
    return not roles()


def current_user() -> User | None:
    """The signed-in user, the local user in local mode, or ``None`` before sign-in."""
    if local_mode():
        return LOCAL
    user = st.session_state.get(SESSION_KEY)
    if user is None:
        return None
    # the account may have been removed or its role changed since sign-in
    listed = roles()
    if user.name not in listed:
        st.session_state.pop(SESSION_KEY, None)
        return None
    return User(user.name, listed[user.name])


def can(action: str) -> bool:
    user = current_user()
    return user is not None and user.can(action)


def require(action: str) -> User:
    """Stop the page with a clear message unless the current user may do ``action``."""
    user = current_user()
    if user is None:
        st.warning("Sign in to use Pond.", icon=":material/lock:")
        st.stop()
    try:
        access.require(user, action)
    except AccessDenied as exc:
        record("denied", str(exc), ok=False)  # a refused writer is in the trail too
        st.error(str(exc), icon=":material/block:")
        st.stop()
    return user


def record(action: str, detail: str = "", *, rows: int | None = None, ok: bool = True,
           actor: str | None = None) -> None:
    """Append to the audit trail; a busy warehouse is logged, never shown as a failed action."""
    user = current_user()
    who = actor or (user.name if user else "anonymous")
    try:
        with data.connect(timeout=15) as con:
            audit.record(con, who, action, detail, rows=rows, ok=ok)
    except WarehouseLockedError:  # kept beside the warehouse; the next entry written brings it in
        try:
            audit.defer(default_warehouse_path(), who, action, detail, rows=rows, ok=ok)
        except Exception:  # noqa: BLE001 - the audit must not break the action it records
            log.exception("could not keep the audit entry %s %s", action, detail)
    except Exception:  # noqa: BLE001 - the audit must not break the action it records
        log.exception("could not write the audit entry %s %s", action, detail)


def client_address() -> str:
    """The browser's address as the server sees it (the proxy's, behind one), for throttling."""
    try:
        return st.context.ip_address or "unknown"
    except Exception:  # noqa: BLE001 - no request context (AppTest): one client
        return "unknown"


def _duration(seconds: float) -> str:
    seconds = max(1, round(seconds))
    return f"{seconds} s" if seconds < 120 else f"{round(seconds / 60)} minutes"


def sign_in_form() -> None:
    """The sign-in page: name and password; failures are audited and throttled by name and by client
    with growing waits (engine.admin.access.SignInThrottle), counted atomically across sessions."""
    st.title("Sign in to Pond")
    with st.form("sign-in"):
        name = st.text_input("User name", key="sign-in-name")
        password = st.text_input("Password", type="password", key="sign-in-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        st.caption("Ask an admin for an account. Admins create them with "
                   "`python -m engine users add NAME --role viewer|marketer|admin`.")
        return
    try:
        with data.connect(timeout=15) as con:
            recorded = audit.sign_in_wait(con, name, access.BY_NAME)
    except PondError:  # a busy warehouse does not stop sign-in: the server's own throttle still counts
        recorded = 0.0
    attempt = access.sign_in(default_warehouse_path(), name, password, client=client_address(),
                             recorded_wait=recorded)
    if attempt.wait:
        record("sign_in_throttled", f"wait {attempt.wait:.0f} s", ok=False, actor=name[:64] or "(empty)")
        st.error(f"Too many failed sign-ins: try again in {_duration(attempt.wait)}.")
        return
    user = attempt.user
    if user is None:
        record("sign_in_failed", "wrong name or password", ok=False, actor=name[:64] or "(empty)")
        st.error("Wrong name or password.")
        return
    st.session_state[SESSION_KEY] = user
    record("sign_in", f"role {user.role}", actor=user.name)
    st.rerun()


def sidebar_badge() -> None:
    user = current_user()
    if user is LOCAL:
        st.caption(":material/lock_open: **Local mode**: no sign-in; whoever opens this address is an admin. "
                   "Create the first admin with `python -m engine users add NAME --role admin`.")
        return
    if user is None:
        return
    cols = st.columns([3, 2])
    cols[0].caption(f":material/person: **{user.name}** ({user.role})")
    if cols[1].button("Sign out", key="sign-out"):
        record("sign_out")
        st.session_state.pop(SESSION_KEY, None)
        st.rerun()

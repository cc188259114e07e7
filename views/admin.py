"""Admin: the audit trail, accounts and roles, backups and restore."""

from datetime import UTC, datetime, time
from pathlib import Path

import pandas as pd
import streamlit as st

from engine.admin import access
from engine.admin.audit import ACTIONS
from engine.errors import PondError
from ui import auth, data, widgets
from ui.page import page_context

st.title("Admin")
page = page_context(needs_events=False, action="users")
path = page.path
tab_audit, tab_users, tab_backups = st.tabs(["Audit trail", "Accounts", "Backups"])

with tab_audit:
    cols = st.columns(3)
    actor = cols[0].text_input("Who (exact name)", key="audit-actor", placeholder="everyone")
    action = cols[1].selectbox("What", ["(everything)", *ACTIONS], key="audit-action")
    since = cols[2].date_input("From", value=None, key="audit-since")
    entries = data.audit_entries(actor.strip() or None, None if action == "(everything)" else action,
                                 datetime.combine(since, time()) if since else None)
    if entries.empty:
        widgets.empty_state("No audit entries match.", hint="Sign-ins, imports, undos, segment saves, exports "
                            "and backups are recorded here.")
    else:
        st.dataframe(entries, hide_index=True, column_config={
            "logged_at": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "rows": st.column_config.NumberColumn("Rows", format="%d")})
        st.caption(f"{len(entries):,} entries, newest first.")
        widgets.csv_download(entries, "pond-audit.csv", label="Audit trail as CSV", key="audit-csv")

with tab_users:
    users = pd.DataFrame(access.list_users(path), columns=["name", "role", "created_at"])
    if users.empty:
        st.info("Local mode: there are no accounts, so nobody signs in and everyone is an admin. Create the "
                "first admin below (you will then sign in with it).", icon=":material/lock_open:")
    else:
        st.dataframe(users, hide_index=True)
        me = auth.current_user()
        cols = st.columns([2, 1.2, 1, 1])
        who = cols[0].selectbox("Account", users["name"].tolist(), key="users-pick")
        role = cols[1].selectbox("Role", list(access.ROLES), key="users-role",
                                 index=list(access.ROLES).index(users.set_index("name").loc[who, "role"]))
        if cols[2].button("Change role", key="users-set-role"):
            try:
                access.set_role(path, who, role)
                auth.record("user_role", f"{who} is now {role}")
                st.rerun()
            except PondError as exc:
                st.error(str(exc))
        if cols[3].button("Remove", key="users-remove", disabled=me is not None and who == me.name,
                          help="You cannot remove yourself."):
            try:
                access.remove_user(path, who)
                auth.record("user_remove", who)
                st.rerun()
            except PondError as exc:
                st.error(str(exc))
    with st.form("users-add", clear_on_submit=True):
        st.markdown("**Add an account** (or give an existing one a new password and role)")
        cols = st.columns(4)
        name = cols[0].text_input("Name", key="users-new-name")
        new_role = cols[1].selectbox("Role", list(access.ROLES), key="users-new-role",
                                     index=2 if users.empty else 0)
        password = cols[2].text_input("Password", type="password", key="users-new-password",
                                      help=f"At least {access.MIN_PASSWORD} characters.")
        again = cols[3].text_input("Again", type="password", key="users-new-again")
        if st.form_submit_button("Save account", type="primary"):
            if password != again:
                st.error("The two passwords differ.")
            else:
                try:
                    access.add_user(path, name.strip(), new_role, password)
                    auth.record("user_add", f"{name.strip()} as {new_role}")
                    st.success(f"Saved {name.strip()} ({new_role}).")
                    if users.empty:
                        st.info("Accounts exist now: sign in with the admin you just created.")
                except PondError as exc:
                    st.error(str(exc))
    st.caption(f"Accounts live in `{access.users_file(path)}` (Argon2 hashes, readable by the server's user only), "
               "outside the warehouse.")

with tab_backups:
    folder = Path(path).parent / "backups"
    st.caption(f"Backups are written to `{folder}`: a consistent snapshot of every table (safe while people "
               "use the dashboard), with the pseudonym key beside it. Command line: `python -m engine backup "
               "DEST.duckdb` and `python -m engine restore SRC.duckdb`.")
    if st.button("Back up now", key="backup-now", type="primary"):
        dest = folder / f"{Path(path).stem}-{datetime.now(UTC):%Y%m%d-%H%M%S}.duckdb"
        try:
            with st.spinner("Writing the snapshot ..."):
                done = data.backup_to(dest)
            rows = sum(done.tables.values())
            auth.record("backup", str(done.path), rows=rows)
            st.success(f"Backup written: {done.path.name} ({rows:,} rows in {len(done.tables)} tables).")
        except PondError as exc:
            st.error(str(exc))
    backups = sorted(folder.glob("*.duckdb"), key=lambda p: p.stat().st_mtime, reverse=True) if folder.exists() else []
    if not backups:
        widgets.empty_state("No backups yet.", hint="“Back up now” writes the first one.")
    else:
        listing = pd.DataFrame({"file": [b.name for b in backups],
                                "size_mb": [round(b.stat().st_size / 2**20, 1) for b in backups],
                                "written": [datetime.fromtimestamp(b.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M")
                                            for b in backups]})
        st.dataframe(listing, hide_index=True, column_config={"size_mb": "Size (MB)", "written": "Written (UTC)"})
        pick = st.selectbox("Restore from", listing["file"].tolist(), key="restore-pick")
        sure = st.checkbox("Replace every table of the warehouse with this backup (the audit trail is kept)",
                           key="restore-sure")
        if st.button("Restore", key="restore-now", disabled=not sure):
            try:
                with st.spinner("Checking and restoring ..."):
                    counts = data.restore_from(folder / pick)
                auth.record("restore", pick, rows=counts.get("events"))
                st.cache_data.clear()
                st.success(f"Restored {pick}: {counts.message}.")
            except PondError as exc:
                st.error(str(exc))

"""Accounts and roles: who may see, export, import and administer.

Accounts live in a JSON file beside the warehouse (``<warehouse>.users.json``, or
``$POND_USERS_FILE``), never inside it, so a copied or restored warehouse carries no passwords.
Passwords are stored as Argon2id hashes (argon2-cffi: salted, memory-hard). While the file holds no
account, the dashboard runs in a clearly labelled local single-user mode without sign-in; the
first admin is created with ``python -m engine users add NAME --role admin``.

Roles are ordered: a **viewer** reads dashboards; a **marketer** may also build and save segments
and export tables; an **admin** may also import, undo, manage accounts, read the audit trail and
back up or restore the warehouse.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from engine.errors import PondError

ROLES = ("viewer", "marketer", "admin")
#: The least role each action needs.
PERMISSIONS = {"view": "viewer", "segments": "marketer", "export": "marketer", "import": "admin",
               "undo": "admin", "users": "admin", "audit": "admin", "backup": "admin"}
NAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
MIN_PASSWORD = 10
_HASHER = PasswordHasher()
#: Verifying against this keeps the time of "no such user" the same as "wrong password".
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


class AccessDenied(PondError):
    """The signed-in user's role does not allow the action."""


@dataclass(frozen=True)
class User:
    name: str
    role: str

    def can(self, action: str) -> bool:
        return allowed(self.role, action)


#: The user of local single-user mode (no accounts): may do everything, and says so.
LOCAL = User("local", "admin")


def allowed(role: str, action: str) -> bool:
    if action not in PERMISSIONS:
        raise ValueError(f"unknown action {action!r}")
    return role in ROLES and ROLES.index(role) >= ROLES.index(PERMISSIONS[action])


def require(user: User, action: str) -> None:
    """Raise :class:`AccessDenied` unless ``user`` may do ``action``."""
    if not user.can(action):
        raise AccessDenied(f"{user.name} ({user.role}) may not {action.replace('_', ' ')}: it needs the "
                           f"{PERMISSIONS[action]} role; ask an admin")


def users_file(warehouse_path: str | Path) -> Path:
    env = os.environ.get("POND_USERS_FILE")
    if env:
        return Path(env).expanduser()
    path = Path(warehouse_path)
    return path.with_name(path.name + ".users.json")


def _read(path: Path) -> dict:
    if not path.exists():
        return {"users": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PondError(f"the accounts file {path} cannot be read ({exc}); fix or remove it") from exc
    if not isinstance(data, dict) or not isinstance(data.get("users"), dict):
        raise PondError(f"the accounts file {path} is not a Pond accounts file")
    return data


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # only the server's user may read hashes
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False)
    os.replace(tmp, path)


def sign_in_required(warehouse_path: str | Path) -> bool:
    """True once at least one account exists; before that the dashboard runs in local mode."""
    return bool(_read(users_file(warehouse_path))["users"])


def list_users(warehouse_path: str | Path) -> list[dict]:
    return [{"name": name, "role": entry["role"], "created_at": entry.get("created_at")}
            for name, entry in sorted(_read(users_file(warehouse_path))["users"].items())]


def add_user(warehouse_path: str | Path, name: str, role: str, password: str) -> User:
    """Create an account (or replace its password and role)."""
    if not NAME.match(name or ""):
        raise PondError("a user name is 2-64 letters, digits or . _ @ -")
    if role not in ROLES:
        raise PondError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if len(password or "") < MIN_PASSWORD:
        raise PondError(f"a password needs at least {MIN_PASSWORD} characters")
    path = users_file(warehouse_path)
    data = _read(path)
    data["users"][name] = {"role": role, "hash": _HASHER.hash(password),
                           "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
    _write(path, data)
    return User(name, role)


def set_role(warehouse_path: str | Path, name: str, role: str) -> None:
    if role not in ROLES:
        raise PondError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    path = users_file(warehouse_path)
    data = _read(path)
    if name not in data["users"]:
        raise PondError(f"no user {name!r}")
    if role != "admin" and _last_admin(data, name):
        raise PondError(f"{name} is the last admin; make someone else admin first")
    data["users"][name]["role"] = role
    _write(path, data)


def remove_user(warehouse_path: str | Path, name: str) -> None:
    path = users_file(warehouse_path)
    data = _read(path)
    if name not in data["users"]:
        raise PondError(f"no user {name!r}")
    if _last_admin(data, name) and len(data["users"]) > 1:
        raise PondError(f"{name} is the last admin; make someone else admin first")
    del data["users"][name]
    _write(path, data)


def _last_admin(data: dict, name: str) -> bool:
    admins = [n for n, e in data["users"].items() if e["role"] == "admin"]
    return admins == [name]


def verify(warehouse_path: str | Path, name: str, password: str) -> User | None:
    """The user when the password matches, else ``None`` (same work either way)."""
    entry = _read(users_file(warehouse_path))["users"].get(name or "")
    try:
        _HASHER.verify(entry["hash"] if entry else _DUMMY_HASH, password or "")
    except (VerificationError, InvalidHashError):
        return None
    return User(name, entry["role"]) if entry else None

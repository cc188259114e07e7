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


# --- sign-in throttling ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ThrottleRule:
    """``free`` failures are allowed; each further one doubles the wait before the next attempt,
    from ``first_wait`` seconds up to ``longest_wait``."""
    free: int
    first_wait: float
    longest_wait: float

    def wait(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return min(self.longest_wait, self.first_wait * 2 ** (failures - self.free))


#: By name: a guesser spread over many machines slows an account to one attempt a minute at worst,
#: never locks its owner out for good (a hard lock is a denial of service anyone can trigger).
BY_NAME = ThrottleRule(free=5, first_wait=1.0, longest_wait=60.0)
#: By client (the browser's address): one machine guessing many names waits up to 15 minutes.
BY_CLIENT = ThrottleRule(free=5, first_wait=1.0, longest_wait=900.0)


@dataclass
class _Count:
    failures: int = 0
    last_failure: float = 0.0
    in_flight: int = 0


class SignInThrottle:
    """Failed sign-ins counted per name and per client, atomically.

    An attempt is *reserved* before its password is checked: attempts still being checked count as
    failures, so a burst of parallel sign-ins (11 wrong guesses and the right one, say) gets no
    more checks than sequential ones would. A success clears the name's and the client's counts.
    """

    def __init__(self, *, by_name: ThrottleRule = BY_NAME, by_client: ThrottleRule = BY_CLIENT,
                 clock=None) -> None:
        import threading
        import time

        self.by_name, self.by_client = by_name, by_client
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], _Count] = {}

    def _keys(self, name: str, client: str) -> list[tuple[tuple[str, str], ThrottleRule]]:
        return [(("name", name.lower()), self.by_name), (("client", client), self.by_client)]

    def reserve(self, name: str, client: str) -> float:
        """Seconds to wait before this attempt may be checked (0: reserved; call :meth:`release`)."""
        with self._lock:
            now = self._clock()
            keys = self._keys(name, client)
            wait = 0.0
            for key, rule in keys:
                count = self._counts.get(key, _Count())
                pending = count.failures + count.in_flight
                if count.in_flight and pending >= rule.free:
                    # the verdict of attempts in flight is not known yet: assume the worst
                    wait = max(wait, rule.wait(pending) or rule.first_wait)
                else:
                    wait = max(wait, count.last_failure + rule.wait(pending) - now if pending >= rule.free else 0.0)
            if wait > 0:
                return wait
            for key, _ in keys:
                self._counts.setdefault(key, _Count()).in_flight += 1
            return 0.0

    def release(self, name: str, client: str, *, ok: bool) -> None:
        """Record the outcome of a reserved attempt."""
        with self._lock:
            now = self._clock()
            for key, _ in self._keys(name, client):
                count = self._counts.setdefault(key, _Count())
                count.in_flight = max(0, count.in_flight - 1)
                if ok:
                    count.failures, count.last_failure = 0, 0.0
                else:
                    count.failures += 1
                    count.last_failure = now
            self._counts = {k: c for k, c in self._counts.items() if c.failures or c.in_flight}


#: The dashboard's throttle: one per server process, shared by every session.
THROTTLE = SignInThrottle()


@dataclass(frozen=True)
class SignIn:
    user: User | None
    #: seconds to wait before trying again (the password was not checked), else 0
    wait: float = 0.0


def sign_in(warehouse_path: str | Path, name: str, password: str, *, client: str = "unknown",
            throttle: SignInThrottle | None = None, recorded_wait: float = 0.0) -> SignIn:
    """Check a name and password under the sign-in throttle (by name and by client).

    ``recorded_wait`` is the wait the audit trail's failures impose (:func:`engine.admin.audit.sign_in_wait`),
    so that a restart does not forget them.
    """
    throttle = throttle or THROTTLE
    name = name or ""
    if recorded_wait > 0:
        return SignIn(None, recorded_wait)
    wait = throttle.reserve(name, client)
    if wait > 0:
        return SignIn(None, wait)
    user = None
    try:
        user = verify(warehouse_path, name, password)
    finally:
        throttle.release(name, client, ok=user is not None)
    return SignIn(user)

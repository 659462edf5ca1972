"""Console users and their sessions: sign-in by password or API token, server-side sessions,
and failed sign-ins slowed down.

- **Passwords** are hashed with argon2id (argon2-cffi's defaults: RFC 9106's second
  recommended parameter set, 64 MiB, 3 passes) in the PHC string format, so the parameters and
  the salt travel with the hash and an old hash is upgraded at the next good sign-in.
- **Sessions** live in the database (``console_sessions``): the browser holds a 256-bit
  secret, the table only its SHA-256 (as for API tokens, a random secret needs no slow KDF),
  so a copy of the table signs no one in. A session ends at sign-out, after ``idle`` without
  use, at its absolute lifetime, when its user is disabled or changes password, and when the
  API token it was opened with is revoked or expires. Every check happens on every request.
- **Failed sign-ins** are counted per username and per client address in the database (so
  every API worker sees them). A few failures are free; after that each failure locks the key
  for twice as long as the one before (1 s, 2 s, 4 s ... at most 15 minutes). While a key is
  locked, an attempt is refused at once (HTTP 429) without checking the password, so a guesser
  gains nothing by trying. A counter is forgotten an hour after its last failure, and a good
  sign-in clears its username's counter (not its address's: one known account must not reset
  the count for guessing others).
- **The ledger** records every sign-in (``console.sign_in``), failed sign-in
  (``console.sign_in_failed``, decision ``deny``, with the username and address, never the
  password or the token), the lock a failure earned, sign-outs and every change to a user.
  Refusals during a lock are not recorded one by one: the lock itself was.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, or_, select, update
from sqlalchemy.engine import Connection

from hanoi.core.clock import isoformat
from hanoi.core.errors import Conflict, InvalidInput, NotFound, Problem, Throttled, Unauthorized, invalid
from hanoi.core.roles import Role
from hanoi.node import tokens
from hanoi.node.runtime import Node, Work
from hanoi.store.db import writer
from hanoi.store.tables import api_tokens, console_sessions, sign_in_failures, users

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
PASSWORD_MIN = 12
PASSWORD_MAX = 1024
LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")

# Slowing down failed sign-ins (see the module docstring).
FREE_FAILURES_PER_USER = 3
FREE_FAILURES_PER_ADDRESS = 10
FIRST_LOCK = timedelta(seconds=1)
LONGEST_LOCK = timedelta(minutes=15)
FORGET_FAILURES_AFTER = timedelta(hours=1)

# A session's last use is written at most this often (not on every page).
TOUCH_EVERY = timedelta(seconds=60)

_hasher = PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash to verify against when the username is unknown, so that an unknown name costs
    the same time as a wrong password (no user enumeration by timing)."""
    return _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """Who is signed in: a user, or an API token's holder, with their role and preferences."""

    id: str
    username: str | None
    token_id: str | None
    name: str
    role: Role
    member_id: str | None
    language: str | None
    time_zone: str | None
    created_at: datetime
    expires_at: datetime

    @property
    def actor(self) -> str:
        if self.username is not None:
            return f"user:{self.username}"
        return f"token:{self.token_id}({self.name})"


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new session: ``secret`` goes into the cookie and is never stored."""

    secret: str
    session: ConsoleSession


def session_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _session_label(session_id: str) -> str:
    """What the ledger calls a session: enough to pair a sign-in with its sign-out, far too
    little to find the session's secret or its row's key."""
    return session_id[:12]


# --- users ---------------------------------------------------------------------------------


def _username(value: Any) -> str:
    name = value.strip().lower() if isinstance(value, str) else ""
    if not USERNAME.fullmatch(name):
        raise invalid("username", "use 1-64 lower-case letters, digits, '.', '_' or '-', "
                                  "starting with a letter or digit")
    return name


def _role(value: Any) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise invalid("role", f"{value!r} is not one of: {', '.join(r.value for r in Role)}") from None


def _check_password(password: Any) -> str:
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise invalid("password", f"use {PASSWORD_MIN} to {PASSWORD_MAX} characters")
    if password.strip() != password or not password.isprintable():
        raise invalid("password", "must not start or end with spaces or hold control characters")
    return password


def check_time_zone(value: Any) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise invalid("time_zone", f"{value!r} is not an IANA time zone such as Europe/Paris") from None
    return str(value)


def _public(row: Any) -> dict[str, Any]:
    return {"username": row["username"], "role": row["role"], "language": row["language"],
            "time_zone": row["time_zone"], "created_at": isoformat(row["created_at"]),
            "password_changed_at": isoformat(row["password_changed_at"]),
            "disabled_at": isoformat(row["disabled_at"]) if row["disabled_at"] else None}


def add_user(node: Node, actor: str, *, username: str, role: str, password: str,
             language: str | None = None, time_zone: str | None = None) -> dict[str, Any]:
    problems: list[Problem] = []
    checked: dict[str, Any] = {}
    for key, check, value in (("username", _username, username), ("role", _role, role),
                              ("password", _check_password, password)):
        try:
            checked[key] = check(value)
        except InvalidInput as err:
            problems += err.problems
    if language is not None and not LANGUAGE.fullmatch(language):
        problems.append(Problem("language", f"{language!r} is not a language code such as en or fr"))
    if time_zone is not None:
        try:
            check_time_zone(time_zone)
        except InvalidInput as err:
            problems += err.problems
    if problems:
        raise InvalidInput("cannot add the user", problems)
    name = checked["username"]
    password_hash = _hasher.hash(checked["password"])  # slow on purpose: outside the transaction
    with node.write(actor) as uow:
        if uow.conn.execute(select(users.c.username).where(users.c.username == name)).first():
            raise Conflict(f"a user {name!r} already exists", [Problem("username", "already exists")])
        record = {"username": name, "role": checked["role"].value, "password_hash": password_hash,
                  "language": language, "time_zone": time_zone, "created_at": uow.now,
                  "password_changed_at": uow.now, "disabled_at": None}
        uow.conn.execute(users.insert().values(**record))
        uow.record("user.add", f"user:{name}", {"username": name, "role": record["role"]})
    return _public(record)


def list_users(node: Node) -> list[dict[str, Any]]:
    with node.read() as conn:
        rows = conn.execute(select(users).order_by(users.c.username)).mappings().all()
    return [_public(r) for r in rows]


def get_user(node: Node, username: str) -> dict[str, Any]:
    with node.read() as conn:
        row = conn.execute(select(users).where(users.c.username == _username(username))).mappings().first()
    if row is None:
        raise NotFound(f"no user {username!r}", "username")
    return _public(row)


def _user_row(uow: Work, username: str) -> Any:
    name = _username(username)
    row = uow.conn.execute(select(users).where(users.c.username == name)).mappings().first()
    if row is None:
        raise NotFound(f"no user {name!r}", "username")
    return row


def disable_user(node: Node, actor: str, username: str) -> dict[str, Any]:
    """Disable a user: their sessions end now and they can no longer sign in. The row stays,
    so the ledger's ``user:NAME`` keeps naming one person."""
    with node.write(actor) as uow:
        row = _user_row(uow, username)
        if row["disabled_at"] is None:
            uow.conn.execute(update(users).where(users.c.username == row["username"])
                             .values(disabled_at=uow.now))
        ended = uow.conn.execute(delete(console_sessions)
                                 .where(console_sessions.c.username == row["username"])).rowcount
        uow.record("user.disable", f"user:{row['username']}",
                   {"username": row["username"], "sessions_ended": ended})
        return _public({**row, "disabled_at": row["disabled_at"] or uow.now})


def set_password(node: Node, actor: str, username: str, password: str) -> dict[str, Any]:
    """Set a user's password; every session of theirs ends (a stolen session does not outlive
    the password change that was meant to lock its thief out)."""
    password_hash = _hasher.hash(_check_password(password))
    with node.write(actor) as uow:
        row = _user_row(uow, username)
        uow.conn.execute(update(users).where(users.c.username == row["username"])
                         .values(password_hash=password_hash, password_changed_at=uow.now))
        ended = uow.conn.execute(delete(console_sessions)
                                 .where(console_sessions.c.username == row["username"])).rowcount
        uow.record("user.password", f"user:{row['username']}",
                   {"username": row["username"], "sessions_ended": ended})
        return _public({**row, "password_changed_at": uow.now})


def set_preferences(node: Node, session: ConsoleSession, *, language: str | None = None,
                    time_zone: str | None = None) -> ConsoleSession:
    """Remember the language and time zone for this session and, for a user, for the next
    ones. A preference is not a change the ledger needs to prove."""
    changes: dict[str, str] = {}
    if language is not None:
        if not LANGUAGE.fullmatch(language):
            raise invalid("language", f"{language!r} is not a language code such as en or fr")
        changes["language"] = language
    if time_zone is not None:
        changes["time_zone"] = check_time_zone(time_zone)
    if changes:
        with writer(node.engine).begin() as conn:
            conn.execute(update(console_sessions).where(console_sessions.c.id == session.id).values(**changes))
            if session.username is not None:
                conn.execute(update(users).where(users.c.username == session.username).values(**changes))
    return ConsoleSession(**{**_fields(session), **changes})


def _fields(session: ConsoleSession) -> dict[str, Any]:
    return {f: getattr(session, f) for f in ConsoleSession.__slots__}


# --- failed sign-ins -------------------------------------------------------------------------


def _lock_for(failures: int, free: int) -> timedelta:
    """How long a key is locked after its ``failures``-th consecutive failure."""
    if failures < free:
        return timedelta(0)
    return min(FIRST_LOCK * 2 ** min(failures - free, 20), LONGEST_LOCK)


def _keys(username: str | None, address: str) -> list[tuple[str, int]]:
    out = [(f"address:{address}", FREE_FAILURES_PER_ADDRESS)]
    if username:
        out.insert(0, (f"user:{username}", FREE_FAILURES_PER_USER))
    return out


def _check_not_locked(conn: Connection, keys: list[tuple[str, int]], now: datetime) -> None:
    rows = conn.execute(select(sign_in_failures.c.key, sign_in_failures.c.locked_until)
                        .where(sign_in_failures.c.key.in_([k for k, _ in keys]))).all()
    wait = max((r[1] - now for r in rows), default=timedelta(0))
    if wait > timedelta(0):
        seconds = max(1, int(wait.total_seconds() + 0.999))
        raise Throttled(f"too many failed sign-ins: try again in {seconds} seconds", seconds)


def _count_failure(uow: Work, keys: list[tuple[str, int]]) -> int:
    """Add one failure to each key; return the longest lock (seconds) this failure set."""
    longest = timedelta(0)
    for key, free in keys:
        row = uow.conn.execute(select(sign_in_failures).where(sign_in_failures.c.key == key)).mappings().first()
        fresh = row is None or uow.now - row["last_failure_at"] > FORGET_FAILURES_AFTER
        failures = 1 if fresh else row["failures"] + 1  # type: ignore[index]
        lock = _lock_for(failures, free)
        longest = max(longest, lock)
        values = {"failures": failures, "last_failure_at": uow.now, "locked_until": uow.now + lock}
        if row is None:
            uow.conn.execute(sign_in_failures.insert().values(key=key, **values))
        else:
            uow.conn.execute(update(sign_in_failures).where(sign_in_failures.c.key == key).values(**values))
    return int(longest.total_seconds())


def _fail(node: Node, *, subject: str, address: str, method: str, reason: str,
          keys: list[tuple[str, int]], username: str | None = None) -> Unauthorized:
    with node.write(f"console:{address}") as uow:
        locked = _count_failure(uow, keys)
        payload: dict[str, Any] = {"method": method, "address": address, "reason": reason}
        if username is not None:
            payload["username"] = username
        if locked:
            payload["locked_for_seconds"] = locked
        uow.record("console.sign_in_failed", subject, payload, decision="deny")
    if method == "token":
        return Unauthorized("the API token was not accepted")
    return Unauthorized("the username or password is not right")


# --- sessions ---------------------------------------------------------------------------------


def _idle(node: Node) -> timedelta:
    return timedelta(minutes=node.config.console_idle_minutes)


def _lifetime(node: Node) -> timedelta:
    return timedelta(hours=node.config.console_session_hours)


def _open_session(uow: Work, node: Node, *, username: str | None, token_id: str | None,
                  language: str | None, time_zone: str | None, address: str) -> tuple[str, str, datetime]:
    # Housekeeping: sessions past their end go whenever someone signs in.
    uow.conn.execute(delete(console_sessions).where(or_(
        console_sessions.c.expires_at <= uow.now, console_sessions.c.last_seen_at <= uow.now - _idle(node))))
    secret = secrets.token_urlsafe(32)
    session_id = session_digest(secret)
    expires_at = uow.now + _lifetime(node)
    uow.conn.execute(console_sessions.insert().values(
        id=session_id, username=username, token_id=token_id, language=language, time_zone=time_zone,
        address=address[:64], created_at=uow.now, last_seen_at=uow.now, expires_at=expires_at))
    return secret, session_id, expires_at


def sign_in(node: Node, *, username: str, password: str, address: str) -> SignedIn:
    """Open a session for a user whose password is right (see the module docstring for what
    a failure costs and what is ledgered)."""
    name = username.strip().lower() if isinstance(username, str) else ""
    if not USERNAME.fullmatch(name):
        name = ""
    keys = _keys(name or None, address)
    with node.read() as conn:
        _check_not_locked(conn, keys, node.now())
        row = conn.execute(select(users).where(users.c.username == name)).mappings().first() if name else None
    good = False
    try:
        good = _hasher.verify(row["password_hash"] if row else _dummy_hash(), password or "")
    except (VerificationError, InvalidHashError):
        good = False
    good = good and row is not None
    if not good or row is None or row["disabled_at"] is not None:
        # A name that is not a username at all is not written down: it may be a password
        # typed into the wrong field.
        reason = ("not a username" if not name else "unknown user" if row is None
                  else "user disabled" if good else "wrong password")
        raise _fail(node, subject=f"user:{name}" if name else "console", address=address, method="password",
                    reason=reason, keys=keys, username=name or None)
    rehash = _hasher.check_needs_rehash(row["password_hash"])
    new_hash = _hasher.hash(password) if rehash else None
    with node.write(f"user:{name}") as uow:
        uow.conn.execute(delete(sign_in_failures).where(sign_in_failures.c.key == f"user:{name}"))
        if new_hash:
            uow.conn.execute(update(users).where(users.c.username == name).values(password_hash=new_hash))
        secret, session_id, expires_at = _open_session(uow, node, username=name, token_id=None,
                                                       language=row["language"], time_zone=row["time_zone"],
                                                       address=address)
        uow.record("console.sign_in", f"user:{name}",
                   {"method": "password", "username": name, "role": row["role"], "address": address,
                    "session": _session_label(session_id), "expires_at": isoformat(expires_at)})
        created = uow.now
    return SignedIn(secret, ConsoleSession(session_id, name, None, name, Role(row["role"]), None,
                                           row["language"], row["time_zone"], created, expires_at))


def sign_in_with_token(node: Node, *, token: str, address: str) -> SignedIn:
    """Open a session for the holder of a valid API token (the token's role, for as long as
    the token stays valid). The token itself is never ledgered."""
    keys = _keys(None, address)
    with node.read() as conn:
        _check_not_locked(conn, keys, node.now())
    try:
        principal = tokens.authenticate(node, (token or "").strip())
    except Unauthorized as err:
        raise _fail(node, subject="console", address=address, method="token", reason=err.detail,
                    keys=keys) from None
    with node.write(principal.actor) as uow:
        secret, session_id, expires_at = _open_session(uow, node, username=None, token_id=principal.token_id,
                                                       language=None, time_zone=None, address=address)
        uow.record("console.sign_in", f"token:{principal.token_id}",
                   {"method": "token", "token": principal.token_id, "role": principal.role.value,
                    "address": address, "session": _session_label(session_id),
                    "expires_at": isoformat(expires_at)})
        created = uow.now
    return SignedIn(secret, ConsoleSession(session_id, None, principal.token_id, principal.name, principal.role,
                                           principal.member_id, None, None, created, expires_at))


_SESSION_QUERY = (
    select(console_sessions, users.c.role.label("user_role"), users.c.disabled_at,
           api_tokens.c.name.label("token_name"), api_tokens.c.role.label("token_role"),
           api_tokens.c.member_id, api_tokens.c.expires_at.label("token_expires_at"), api_tokens.c.revoked_at)
    .select_from(console_sessions.outerjoin(users, users.c.username == console_sessions.c.username)
                 .outerjoin(api_tokens, api_tokens.c.id == console_sessions.c.token_id))
)


def session_for(node: Node, secret: str | None) -> ConsoleSession | None:
    """The live session whose cookie holds ``secret``, or None (unknown, ended, idle too
    long, past its lifetime, its user disabled or its token no longer valid). The role is
    read from the user or token on every request: a change applies at once."""
    if not secret or len(secret) > 200:
        return None
    session_id = session_digest(secret)
    now = node.now()
    with node.read() as conn:
        row = conn.execute(_SESSION_QUERY.where(console_sessions.c.id == session_id)).mappings().first()
    if row is None:
        return None
    live = row["expires_at"] > now and row["last_seen_at"] > now - _idle(node)
    if row["username"] is not None:
        live = live and row["user_role"] is not None and row["disabled_at"] is None
        role, name, member = row["user_role"], row["username"], None
    else:
        live = (live and row["token_role"] is not None and row["revoked_at"] is None
                and (row["token_expires_at"] is None or row["token_expires_at"] > now))
        role, name, member = row["token_role"], row["token_name"], row["member_id"]
    if not live:
        with writer(node.engine).begin() as conn:
            conn.execute(delete(console_sessions).where(console_sessions.c.id == session_id))
        return None
    if now - row["last_seen_at"] >= TOUCH_EVERY:
        with writer(node.engine).begin() as conn:
            conn.execute(update(console_sessions).where(console_sessions.c.id == session_id)
                         .values(last_seen_at=now))
    return ConsoleSession(session_id, row["username"], row["token_id"], name, Role(role), member,
                          row["language"], row["time_zone"], row["created_at"], row["expires_at"])


def sign_out(node: Node, session: ConsoleSession) -> None:
    with node.write(session.actor) as uow:
        uow.conn.execute(delete(console_sessions).where(console_sessions.c.id == session.id))
        uow.record("console.sign_out", f"user:{session.username}" if session.username else f"token:{session.token_id}",
                   {"session": _session_label(session.id)})

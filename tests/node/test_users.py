"""Console users and sessions: argon2id passwords, sign-in by password or token, server-side
sessions that end when they should, failed sign-ins ledgered and slowed down; the same
through `hanoi users` and /api/v1/users."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hanoi.cli.main import run
from hanoi.core.errors import Conflict, InvalidInput, Throttled, Unauthorized
from hanoi.core.roles import Role
from hanoi.node import ledger, tokens, users
from hanoi.node.runtime import Node
from hanoi.store.tables import console_sessions, ledger_entries
from hanoi.store.tables import users as users_table
from tests.node.helpers import auth

PASSWORD = "correct horse battery staple"
pytestmark = pytest.mark.usefixtures("cheap_passwords")


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock(node: Node) -> Clock:
    c = Clock()
    node.clock = c
    return c


def _ledger_text(node: Node) -> str:
    with node.read() as conn:
        rows = conn.execute(select(ledger_entries.c.payload, ledger_entries.c.reasons,
                                   ledger_entries.c.subject)).all()
    return "\n".join(" ".join(r) for r in rows)


def _entries(node: Node, action: str) -> list[dict]:
    return ledger.browse(node, action=action, limit=500)["items"]


def test_a_user_is_added_with_an_argon2id_hash_and_ledgered_without_the_password(node: Node) -> None:
    user = users.add_user(node, "test", username="Alice", role="auditor", password=PASSWORD)
    assert user["username"] == "alice" and user["role"] == "auditor" and "password_hash" not in user
    with node.read() as conn:
        stored = conn.execute(select(users_table.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert [e["subject"] for e in _entries(node, "user.add")] == ["user:alice"]
    assert PASSWORD not in _ledger_text(node)
    with pytest.raises(Conflict):
        users.add_user(node, "test", username="alice", role="admin", password=PASSWORD)


def test_every_problem_of_a_new_user_is_named_at_once(node: Node) -> None:
    with pytest.raises(InvalidInput) as err:
        users.add_user(node, "test", username="no spaces", role="boss", password="short",
                       time_zone="Mars/Olympus")
    assert {p.field for p in err.value.problems} == {"username", "role", "password", "time_zone"}


def test_sign_in_with_the_right_password_opens_a_session_and_is_ledgered(node: Node) -> None:
    users.add_user(node, "test", username="alice", role="auditor", password=PASSWORD)
    signed = users.sign_in(node, username=" Alice ", password=PASSWORD, address="192.0.2.1")
    session = users.session_for(node, signed.secret)
    assert session is not None and session.role is Role.AUDITOR and session.actor == "user:alice"
    with node.read() as conn:
        ids = conn.execute(select(console_sessions.c.id)).scalars().all()
    assert ids == [users.session_digest(signed.secret)]  # only the digest is stored
    [entry] = _entries(node, "console.sign_in")
    assert entry["subject"] == "user:alice" and entry["payload"]["address"] == "192.0.2.1"
    assert signed.secret not in _ledger_text(node)
    users.sign_out(node, session)
    assert users.session_for(node, signed.secret) is None
    assert len(_entries(node, "console.sign_out")) == 1


@pytest.mark.parametrize("username", ["alice", "mallory", "not a name"])
def test_a_failed_sign_in_is_refused_and_ledgered_without_the_password(node: Node, username: str) -> None:
    users.add_user(node, "test", username="alice", role="auditor", password=PASSWORD)
    with pytest.raises(Unauthorized) as err:
        users.sign_in(node, username=username, password="wrong password!!", address="192.0.2.7")
    assert err.value.detail == "the username or password is not right"  # the same for every case
    [entry] = _entries(node, "console.sign_in_failed")
    assert entry["decision"] == "deny" and entry["payload"]["address"] == "192.0.2.7"
    if username == "not a name":
        assert entry["subject"] == "console" and "username" not in entry["payload"]
    else:
        assert entry["subject"] == f"user:{username}" and entry["payload"]["username"] == username
    assert "wrong password!!" not in _ledger_text(node)


def test_repeated_failures_lock_the_username_for_longer_each_time(node: Node, clock: Clock) -> None:
    users.add_user(node, "test", username="alice", role="auditor", password=PASSWORD)
    for _ in range(users.FREE_FAILURES_PER_USER - 1):
        with pytest.raises(Unauthorized):
            users.sign_in(node, username="alice", password="guess guess guess", address="192.0.2.1")
    locks = []
    for _ in range(4):
        with pytest.raises(Unauthorized):
            users.sign_in(node, username="alice", password="guess guess guess", address="192.0.2.1")
        # Locked now: even the right password is refused, without being checked or ledgered.
        before = ledger.verify(node).count
        with pytest.raises(Throttled) as err:
            users.sign_in(node, username="alice", password=PASSWORD, address="192.0.2.99")
        assert ledger.verify(node).count == before
        locks.append(err.value.retry_after)
        clock.advance(seconds=err.value.retry_after)
    assert locks == [1, 2, 4, 8]
    failed = _entries(node, "console.sign_in_failed")
    assert [e["payload"].get("locked_for_seconds") for e in reversed(failed)][-4:] == [1, 2, 4, 8]
    # Once the lock has passed, the right password works and clears the username's count.
    users.sign_in(node, username="alice", password=PASSWORD, address="192.0.2.1")
    with pytest.raises(Unauthorized):
        users.sign_in(node, username="alice", password="guess guess guess", address="192.0.2.5")
    users.sign_in(node, username="alice", password=PASSWORD, address="192.0.2.5")  # no lock after 1 failure


def test_the_lock_is_capped_and_forgotten_after_an_hour(node: Node, clock: Clock) -> None:
    users.add_user(node, "test", username="alice", role="auditor", password=PASSWORD)
    for i in range(16):  # the 16th failure would lock for 2**13 s: capped at 15 minutes
        clock.advance(minutes=15)  # every lock has passed: the attempt is judged, and fails
        with pytest.raises(Unauthorized):
            users.sign_in(node, username="alice", password="guess guess guess", address=f"198.51.100.{i}")
    with pytest.raises(Throttled) as err:
        users.sign_in(node, username="alice", password=PASSWORD, address="203.0.113.1")
    assert err.value.retry_after == 15 * 60
    clock.advance(hours=1, seconds=1)
    users.sign_in(node, username="alice", password=PASSWORD, address="203.0.113.1")


def test_many_failures_from_one_address_lock_that_address_for_every_name(node: Node, clock: Clock) -> None:
    users.add_user(node, "test", username="alice", role="auditor", password=PASSWORD)
    for i in range(users.FREE_FAILURES_PER_ADDRESS):
        with pytest.raises(Unauthorized):
            users.sign_in(node, username=f"user{i}", password="guess guess guess", address="192.0.2.66")
    with pytest.raises(Throttled):
        users.sign_in(node, username="alice", password=PASSWORD, address="192.0.2.66")
    with pytest.raises(Throttled):
        users.sign_in_with_token(node, token="hx_whatever", address="192.0.2.66")
    users.sign_in(node, username="alice", password=PASSWORD, address="192.0.2.67")  # another address


def test_sessions_end_when_idle_at_their_lifetime_and_when_the_user_is_disabled(node: Node, clock: Clock) -> None:
    users.add_user(node, "test", username="alice", role="auditor", password=PASSWORD)
    idle = timedelta(minutes=node.config.console_idle_minutes)
    one = users.sign_in(node, username="alice", password=PASSWORD, address="192.0.2.1").secret
    clock.advance(seconds=idle.total_seconds() + 1)
    assert users.session_for(node, one) is None
    two = users.sign_in(node, username="alice", password=PASSWORD, address="192.0.2.1").secret
    for _ in range(node.config.console_session_hours * 4 - 1):  # used every 15 minutes ...
        clock.advance(minutes=15)
        assert users.session_for(node, two) is not None
    clock.advance(minutes=15)  # ... still ends at its absolute lifetime
    assert users.session_for(node, two) is None
    three = users.sign_in(node, username="alice", password=PASSWORD, address="192.0.2.1").secret
    users.set_password(node, "test", "alice", "another long password")
    assert users.session_for(node, three) is None
    four = users.sign_in(node, username="alice", password="another long password", address="192.0.2.1").secret
    users.disable_user(node, "test", "alice")
    assert users.session_for(node, four) is None
    with pytest.raises(Unauthorized):
        users.sign_in(node, username="alice", password="another long password", address="192.0.2.1")
    assert _entries(node, "console.sign_in_failed")[0]["payload"]["reason"] == "user disabled"


def test_a_token_session_has_the_tokens_role_and_ends_when_the_token_is_revoked(node: Node) -> None:
    secret, record = tokens.create(node, "test", name="night desk", role="caseworker")
    signed = users.sign_in_with_token(node, token=secret, address="192.0.2.1")
    session = users.session_for(node, signed.secret)
    assert session is not None and session.role is Role.CASEWORKER and session.name == "night desk"
    assert secret not in _ledger_text(node)
    tokens.revoke(node, "test", record["id"])
    assert users.session_for(node, signed.secret) is None
    with pytest.raises(Unauthorized):
        users.sign_in_with_token(node, token=secret, address="192.0.2.1")
    assert _entries(node, "console.sign_in_failed")[0]["payload"]["method"] == "token"


def test_preferences_are_kept_for_the_next_session(node: Node) -> None:
    users.add_user(node, "test", username="alice", role="auditor", password=PASSWORD)
    signed = users.sign_in(node, username="alice", password=PASSWORD, address="192.0.2.1")
    users.set_preferences(node, signed.session, language="fr", time_zone="Europe/Paris")
    again = users.sign_in(node, username="alice", password=PASSWORD, address="192.0.2.1")
    assert (again.session.language, again.session.time_zone) == ("fr", "Europe/Paris")
    with pytest.raises(InvalidInput):
        users.set_preferences(node, again.session, time_zone="Nowhere/Land")


def test_the_cli_adds_lists_disables_and_sets_passwords(node: Node, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    home = ["--home", str(node.home)]
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert run([*home, "users", "add", "bob", "--role", "caseworker", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert run([*home, "users", "add", "carol", "--role", "caseworker", "--password-stdin"]) == 1
    capsys.readouterr()
    assert run([*home, "users", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(u["username"], u["role"], u["disabled_at"]) for u in listed] == [("bob", "caseworker", None)]
    monkeypatch.setattr("sys.stdin", io.StringIO("a new long password\n"))
    assert run([*home, "users", "passwd", "bob", "--password-stdin"]) == 0
    users.sign_in(node, username="bob", password="a new long password", address="127.0.0.1")
    assert run([*home, "users", "disable", "bob"]) == 0
    assert users.get_user(node, "bob")["disabled_at"] is not None
    assert PASSWORD not in _ledger_text(node)


def test_the_api_manages_users_for_admins_only(client: TestClient, role_tokens: dict[Role, str]) -> None:
    body = {"username": "dave", "role": "analyst", "password": PASSWORD}
    for role in Role:
        if role is not Role.ADMIN:
            assert client.post("/api/v1/users", json=body, headers=auth(role_tokens[role])).status_code == 403
            assert client.get("/api/v1/users", headers=auth(role_tokens[role])).status_code == 403
    admin = auth(role_tokens[Role.ADMIN])
    r = client.post("/api/v1/users", json=body, headers=admin)
    assert r.status_code == 201 and PASSWORD not in r.text and "password_hash" not in r.json()
    assert [u["username"] for u in client.get("/api/v1/users", headers=admin).json()] == ["dave"]
    r = client.post("/api/v1/users", json={**body, "password": "short"}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "password"
    r = client.put("/api/v1/users/dave/password", json={"password": "x" * 20}, headers=admin)
    assert r.status_code == 200
    r = client.post("/api/v1/users/dave/disable", headers=admin)
    assert r.status_code == 200 and r.json()["disabled_at"]
    assert client.get("/api/v1/users/nobody", headers=admin).status_code == 404

"""The node policy: a YAML file the admin edits, shown by the API, every change ledgered.

``HOME/policy.yaml`` holds the platform's standing policy (``hanoi.core.gate.StandingPolicy``:
what to do with a partner under concerns or of a non-Party State) and each wing's section
(``hanoi.requests.gate.RequestPolicy``: serious-crime threshold, dual criminality, assurances,
deadline profiles). The keys sit side by side in one flat file; each wing's manifest says which
keys it owns, and a key nobody owns is refused.

One accessor, one cache: ``node.policies`` (``Policies``). Inside a unit of work,
``work.policy`` reads it; elsewhere ``node.policies.current()``. Either way a hand edit of the
file is noticed by its stamp (modification time and size), parsed, and, if its digest is not the
last one on the ledger, ledgered as ``policy.changed`` before anything reads it: no decision is
ever made under a policy the ledger does not show. A change through the API or CLI is written and
ledgered in one step. A policy file that does not parse stops every gated operation with an error
naming the field.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml
from sqlalchemy import select
from sqlalchemy.engine import Connection

from hanoi.config import POLICY_FILE
from hanoi.core.canonical import digest
from hanoi.core.errors import InvalidInput, Problem
from hanoi.core.gate import StandingPolicy, rule_table
from hanoi.node.wings import PolicySection
from hanoi.store.tables import ledger_entries
from hanoi.store.uow import UnitOfWork

if TYPE_CHECKING:  # the runtime holds the accessor; these are only annotations
    from hanoi.node.runtime import Node

SUBJECT = "policy"
PLATFORM_KEYS = ("version", *StandingPolicy.KEYS)
HEADER = """\
# Hanoi Exchange node policy: this node's choices where the Convention leaves them open.
# Every decision of the safeguards gate cites the rule it applied; edit, then reload.
version: 1

"""

S = TypeVar("S")


@dataclass(frozen=True)
class LoadedPolicy:
    standing: StandingPolicy
    sections: Mapping[type, Any]
    digest: str
    document: dict[str, Any]

    def section(self, kind: type[S]) -> S:
        """The parsed section of one wing (its class, as the wing's manifest names it)."""
        value = self.sections.get(kind)
        if value is None:
            raise LookupError(f"no wing of this node owns the policy section {kind.__name__}")
        assert isinstance(value, kind)
        return value


def default_yaml(sections: Sequence[type[PolicySection]]) -> str:
    """The file a new node starts from: every setting at its default, with comments."""
    return HEADER + "\n".join([StandingPolicy.DEFAULT_YAML, *(s.DEFAULT_YAML for s in sections)])


def parse(document: Any, sections: Sequence[type[PolicySection]]) -> LoadedPolicy:
    """Validate a policy document (every problem at once)."""
    if not isinstance(document, Mapping):
        raise InvalidInput("the policy must be a YAML mapping", [Problem("policy", "must be a mapping")])
    problems: list[Problem] = []
    known = set(PLATFORM_KEYS).union(*(s.KEYS for s in sections))
    for key in sorted(set(document) - known, key=str):
        problems.append(Problem(f"policy.{key}", "is not a known setting"))
    version = document.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        problems.append(Problem("policy.version", "must be a whole number from 1"))
        version = 1
    standing = StandingPolicy.from_dict(document, problems)
    parsed = {s: s.from_dict(document, problems) for s in sections}
    if problems:
        raise InvalidInput("the node policy is not valid: " + "; ".join(str(p) for p in problems[:3]),
                           problems)
    normalised: dict[str, Any] = {"version": version, **standing.to_dict()}
    for value in parsed.values():
        normalised.update(value.to_dict())
    return LoadedPolicy(standing, parsed, digest(normalised), normalised)


def _last_ledgered_digest(conn: Connection) -> str | None:
    row = conn.execute(select(ledger_entries.c.payload).where(ledger_entries.c.subject == SUBJECT)
                       .order_by(ledger_entries.c.seq.desc()).limit(1)).scalar()
    return json.loads(row).get("digest") if row else None


class _Unchanged(Exception):
    """Another process ledgered the same policy first: nothing to write."""


class Policies:
    """The policy in force for one node: one cache, keyed by the file's stamp, holding only a
    policy whose digest is on the ledger."""

    def __init__(self, home: Path, sections: Sequence[type[PolicySection]]):
        self.path = home / POLICY_FILE
        self.sections = tuple(sections)
        self._lock = threading.Lock()
        self._cached: tuple[tuple[int, int], LoadedPolicy] | None = None

    def stamp(self) -> tuple[int, int]:
        """The file's (mtime, size): a hand edit changes both, or at least the time."""
        try:
            st = self.path.stat()
        except OSError:
            return (0, 0)
        return (st.st_mtime_ns, st.st_size)

    def read_file(self) -> LoadedPolicy:
        """The file as it stands, parsed (nothing ledgered: for showing and checking)."""
        if not self.path.exists():
            return parse(yaml.safe_load(default_yaml(self.sections)), self.sections)
        try:
            document = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{self.path} is not valid YAML",
                               [Problem("policy", str(exc).splitlines()[0])]) from None
        return parse(document, self.sections)

    def _fresh(self) -> tuple[tuple[int, int], LoadedPolicy | None]:
        stamp = self.stamp()
        cached = self._cached
        return stamp, (cached[1] if cached is not None and cached[0] == stamp else None)

    def _keep(self, stamp: tuple[int, int], loaded: LoadedPolicy) -> None:
        with self._lock:
            self._cached = (stamp, loaded)

    def in_work(self, uow: UnitOfWork) -> LoadedPolicy:
        """The policy in force inside a unit of work: a hand edit is ledgered in it first (and
        cached once that unit of work has committed)."""
        stamp, loaded = self._fresh()
        if loaded is not None:
            return loaded
        loaded = self.read_file()
        if _last_ledgered_digest(uow.conn) != loaded.digest:
            uow.record("policy.changed", SUBJECT, {"digest": loaded.digest, "policy": loaded.document},
                       actor=f"file:{POLICY_FILE}")
            uow.after_commit(lambda: self._keep(stamp, loaded))
        else:
            self._keep(stamp, loaded)
        return loaded

    def current(self, node: Node) -> LoadedPolicy:
        """The policy in force, outside a unit of work (read paths): a hand edit is ledgered in
        a short unit of work of its own before it is returned."""
        stamp, loaded = self._fresh()
        if loaded is not None:
            return loaded
        loaded = self.read_file()
        with node.read() as conn:
            ledgered = _last_ledgered_digest(conn) == loaded.digest
        if not ledgered:
            try:
                with node.write(f"file:{POLICY_FILE}") as work:
                    loaded = self.in_work(work)
                    if not work.entries:
                        raise _Unchanged
            except _Unchanged:
                pass
        self._keep(stamp, loaded)
        return loaded

    def forget(self) -> None:
        with self._lock:
            self._cached = None


def show(node: Node) -> dict[str, Any]:
    loaded = node.policies.read_file()
    return {"policy": loaded.document, "digest": loaded.digest, "rules": rule_table(),
            "file": str(node.policies.path)}


def write_default(node: Node, uow: UnitOfWork) -> None:
    path = node.policies.path
    if not path.exists():
        path.write_text(default_yaml(node.policies.sections), encoding="utf-8")
    loaded = node.policies.read_file()
    uow.record("policy.init", SUBJECT, {"digest": loaded.digest, "policy": loaded.document})


def update(node: Node, actor: str, document: Any) -> dict[str, Any]:
    """Replace the policy; the file is written only once the change is ledgered."""
    loaded = parse(document, node.policies.sections)
    path = node.policies.path
    with node.write(actor) as uow:
        uow.record("policy.update", SUBJECT, {"digest": loaded.digest, "policy": loaded.document})
        tmp = path.with_suffix(".tmp")
        tmp.write_text("# Hanoi Exchange node policy (written by `hanoi policy set`).\n"
                       + yaml.safe_dump(loaded.document, sort_keys=False), encoding="utf-8")
        tmp.replace(path)
    node.policies.forget()
    return show(node)

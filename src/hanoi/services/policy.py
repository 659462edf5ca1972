"""The node policy: a YAML file the admin edits, shown by the API, every change ledgered.

``HOME/policy.yaml`` holds the gate's choices (``hanoi.core.gate.NodePolicy``) and, under
``deadlines:``, the deadline profiles partner agreements use. A change through the API or CLI
is written and ledgered in one step; an edit of the file by hand is noticed the next time the
policy is loaded, and ledgered then (``policy.changed``) before the new policy decides anything.
A policy file that does not parse stops every gated operation with an error naming the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml
from sqlalchemy import select

from hanoi.config import POLICY_FILE
from hanoi.core.canonical import digest
from hanoi.core.errors import InvalidInput, Problem
from hanoi.core.gate import DEFAULT_POLICY_YAML, NodePolicy, rule_table
from hanoi.requests.deadlines import DEFAULT_PROFILES, DeadlineProfile, profiles_from_dict, profiles_to_dict
from hanoi.services.node import Node
from hanoi.store.tables import ledger_entries
from hanoi.store.uow import UnitOfWork

SUBJECT = "policy"


@dataclass(frozen=True)
class LoadedPolicy:
    gate: NodePolicy
    deadlines: dict[str, DeadlineProfile]
    digest: str
    document: dict[str, Any]


def parse(document: Any) -> LoadedPolicy:
    """Validate a policy document (every problem at once)."""
    if not isinstance(document, dict):
        raise InvalidInput("the policy must be a YAML mapping", [Problem("policy", "must be a mapping")])
    doc = dict(document)
    deadlines_doc = doc.pop("deadlines", None)
    problems: list[Problem] = []
    gate_policy = None
    try:
        gate_policy = NodePolicy.from_dict(doc)
    except InvalidInput as err:
        problems += err.problems
    deadlines = dict(DEFAULT_PROFILES)
    if deadlines_doc is not None:
        try:
            deadlines = profiles_from_dict(deadlines_doc)
        except InvalidInput as err:
            problems += err.problems
    if problems or gate_policy is None:
        raise InvalidInput("the node policy is not valid", problems)
    normalised = {**gate_policy.to_dict(), "deadlines": profiles_to_dict(deadlines)}
    return LoadedPolicy(gate_policy, deadlines, digest(normalised), normalised)


def _read_file(node: Node) -> Any:
    path = node.home / POLICY_FILE
    if not path.exists():
        return yaml.safe_load(DEFAULT_POLICY_YAML)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path} is not valid YAML", [Problem("policy", str(exc).splitlines()[0])]) from None


def _last_ledgered_digest(uow: UnitOfWork) -> str | None:
    row = uow.conn.execute(select(ledger_entries.c.payload).where(ledger_entries.c.subject == SUBJECT)
                           .order_by(ledger_entries.c.seq.desc()).limit(1)).scalar()
    return json.loads(row).get("digest") if row else None


def current(uow: UnitOfWork) -> LoadedPolicy:
    """The policy in force, inside a unit of work: a hand edit is ledgered before it is used."""
    loaded = parse(_read_file(uow_node(uow)))
    if _last_ledgered_digest(uow) != loaded.digest:
        uow.record("policy.changed", SUBJECT, {"digest": loaded.digest, "policy": loaded.document},
                   actor=f"file:{POLICY_FILE}")
    return loaded


def file_stamp(node: Node) -> tuple[str, tuple[int, int]]:
    """The policy file's path and (mtime, size): what a cache of the parsed policy is keyed
    on, so a hand edit (which changes both, or at least the time) is parsed again."""
    path = node.home / POLICY_FILE
    try:
        st = path.stat()
        return str(path), (st.st_mtime_ns, st.st_size)
    except OSError:
        return str(path), (0, 0)


def uow_node(uow: UnitOfWork) -> Node:
    node = getattr(uow, "node", None)
    if node is None:
        raise RuntimeError("the unit of work was not opened through node.write()")
    return node


def load(node: Node) -> LoadedPolicy:
    """The policy file as it stands (read-only; ``current`` is the ledgering variant)."""
    return parse(_read_file(node))


def show(node: Node) -> dict[str, Any]:
    loaded = load(node)
    return {"policy": loaded.document, "digest": loaded.digest, "rules": rule_table(),
            "file": str(node.home / POLICY_FILE)}


def write_default(node: Node, uow: UnitOfWork) -> None:
    path = node.home / POLICY_FILE
    if not path.exists():
        path.write_text(DEFAULT_POLICY_YAML, encoding="utf-8")
    loaded = parse(_read_file(node))
    uow.record("policy.init", SUBJECT, {"digest": loaded.digest, "policy": loaded.document})


def update(node: Node, actor: str, document: Any) -> dict[str, Any]:
    """Replace the policy; the file is written only once the change is ledgered."""
    loaded = parse(document)
    path = node.home / POLICY_FILE
    with node.write(actor) as uow:
        uow.record("policy.update", SUBJECT, {"digest": loaded.digest, "policy": loaded.document})
        tmp = path.with_suffix(".tmp")
        tmp.write_text("# Hanoi Exchange node policy (written by `hanoi policy set`).\n"
                       + yaml.safe_dump(loaded.document, sort_keys=False), encoding="utf-8")
        tmp.replace(path)
    return show(node)

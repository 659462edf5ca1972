"""The desk's board holds what `hanoi requests due` holds (the same deadlines, read through
the open requests only), plus every running preservation and every review awaited."""

from __future__ import annotations

from datetime import timedelta

from hanoi.demo import sample_partners
from hanoi.node import members
from hanoi.node.runtime import Node
from hanoi.requests import desk, samples, service


def test_the_board_agrees_with_requests_due(node: Node) -> None:
    for spec in sample_partners():
        members.add(node, "setup", spec)
    made = []
    for type_ in ("mla", "stored-data", "emergency", "preservation", "law-enforcement"):
        fields = dict(samples.sample_fields(type_, node.now())[0])
        fields["deadline"] = samples.example(samples.FIELDS_BY_NAME["deadline"], type_, node.now())
        fields["deadline_reason"] = "The provider deletes the data in three weeks."
        made.append(service.create(node, "desk", {"type": type_, "partner": "fr-pharos", "direction": "incoming",
                                                   "via": "e-mail", "fields": fields})["id"])
    for event in ("acknowledge", "start", "preserve"):
        service.act(node, "desk", made[3], event)
    within = timedelta(days=30)
    due = {(d["request_id"], d["label"], d["due_at"]) for d in service.due(node, within)
           if d.get("source") != "preservation"}
    board = desk.board(node, within=within)
    assert {(d["request_id"], d["label"], d["due_at"]) for d in board if d["kind"] == "deadline"} == due
    assert any(d["source"] == "requester" for d in board if d["kind"] == "deadline")  # the reasoned deadline
    [clock] = [d for d in board if d["kind"] == "preservation"]
    assert clock["request_id"] == made[3] and clock["remaining_seconds"] > 59 * 86400
    reviews = {d["request_id"] for d in board if d["kind"] == "review"}
    assert reviews == {r for r in made if service.show(node, r)["decision"]["outcome"] == "review"}
    states = [d["state"] for d in board]
    assert states == sorted(states, key=["overdue", "due-soon", "ok", "review"].index)

"""The console's translatable names stay equal to the wings' tables."""

from __future__ import annotations

from hanoi.console.labels import EVENT_LABELS, REQUEST_TYPE_LABELS, RESPONSE_KIND_LABELS
from hanoi.console.routes.requests import RESPONSE_EVENTS
from hanoi.requests.lifecycle import Event
from hanoi.requests.responses import RESPONSE_KINDS
from hanoi.requests.types import REQUEST_TYPES


def test_every_request_type_has_its_label_marked_for_translation() -> None:
    assert {code: t.label for code, t in REQUEST_TYPES.items()} == REQUEST_TYPE_LABELS


def test_every_lifecycle_event_has_a_button_or_the_response_form() -> None:
    assert set(EVENT_LABELS) | RESPONSE_EVENTS == {e.value for e in Event}
    assert not set(EVENT_LABELS) & RESPONSE_EVENTS


def test_every_response_kind_has_its_label_marked_for_translation() -> None:
    assert set(RESPONSE_KIND_LABELS) == set(RESPONSE_KINDS)

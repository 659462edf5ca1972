"""The printable form of a request (HTML or PDF), with its timeline, for signature and filing."""

from __future__ import annotations

from typing import Any

from hanoi.core.errors import invalid
from hanoi.services import requests
from hanoi.services.node import Node


def document(node: Node, request_id: str) -> dict[str, Any]:
    shown = requests.show(node, request_id)
    shown["timeline"] = [
        {"ts": e["ts"], "action": e["action"], "actor": e["actor"],
         "state": e["payload"].get("to") if isinstance(e["payload"], dict) else None}
        for e in requests.timeline(node, request_id)
    ]
    shown["node"] = {"id": node.node_id, "name": node.config.name, "country": node.config.country}
    return shown


def render(node: Node, request_id: str, fmt: str) -> bytes:
    from hanoi.requests import render as render_module

    doc = document(node, request_id)
    if fmt == "html":
        return render_module.render_html(doc).encode("utf-8")
    if fmt == "pdf":
        return render_module.render_pdf(doc)
    raise invalid("format", "must be html or pdf")

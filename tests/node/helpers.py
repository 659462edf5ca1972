"""Small builders shared by the node tests."""

from __future__ import annotations

from hanoi.core import keys


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def public_key() -> str:
    return keys.public_key_b64(keys.generate_private_key())


def member_body(**over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "PHAROS 24/7", "kind": "contact-point", "country": "FR",
        "state_status": "party", "endpoint": "https://fr.example.test",
        "keys": [{"public_key": public_key()}], "languages": ["fr", "en"],
        "available_24_7": True, "contacts": [{"name": "Duty officer", "email": "duty@example.test"}],
    }
    body.update(over)
    return body


GOOD_ASSESSMENT = {
    "standing": "good", "assessor": "A. Analyst", "findings": "Independent review; remedies exist.",
    "articles": ["6", "UNCC Art. 24"], "sources": ["UPR report 2025"],
}

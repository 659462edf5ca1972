"""The console's languages: every message in the templates and console code is in the
catalogue and translated into French, placeholders intact; language and date choices."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as st

from hanoi.console.i18n import LANGUAGES, choose_language, local_time, parse_accept_language, translations, utc_time

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "src" / "hanoi" / "console"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _source_messages() -> set[str | tuple[str, ...]]:
    keywords = {**DEFAULT_KEYWORDS, "N_": None, "ngettext": (1, 2)}
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found: set[str | tuple[str, ...]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(CONSOLE), method_map, options, keywords=keywords):
        found.add(message if isinstance(message, str) else tuple(message))
    return found


def _catalogue(language: str):  # type: ignore[no-untyped-def]
    path = CONSOLE / "translations" / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        return read_po(fh, locale=language)


def test_the_catalogue_holds_exactly_the_messages_of_the_sources() -> None:
    """`make messages` was run after the last change to a template or console module."""
    source = _source_messages()
    assert len(source) > 50
    for language in LANGUAGES:
        if language == "en":
            continue
        catalogue = {m.id if isinstance(m.id, str) else tuple(m.id) for m in _catalogue(language) if m.id}
        assert source - catalogue == set(), f"missing from {language}: run `make messages` and translate"
        assert catalogue - source == set(), f"obsolete in {language}: run `make messages`"


def test_french_is_complete_with_the_same_placeholders() -> None:
    for message in _catalogue("fr"):
        if not message.id:
            continue
        assert not message.fuzzy, message.id
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        assert all(strings), f"untranslated: {message.id!r}"
        wanted = {p for i in ids for p in PLACEHOLDER.findall(i)}
        for s in strings:
            assert set(PLACEHOLDER.findall(s)) <= wanted, (message.id, s)
            if isinstance(message.id, str):
                assert set(PLACEHOLDER.findall(s)) == wanted, (message.id, s)


def test_french_catalogue_compiles_in_memory_and_translates() -> None:
    fr = translations("fr")
    assert fr.gettext("Ledger") == "Registre"
    assert fr.ngettext("%(num)d signed checkpoint", "%(num)d signed checkpoints", 2) % {"num": 2} == \
        "2 points de contrôle signés"
    assert translations("en").gettext("Ledger") == "Ledger"


def test_language_from_preference_then_accept_language_then_english() -> None:
    assert choose_language("fr", "en-GB,en;q=0.9") == "fr"
    assert choose_language(None, "de-DE,de;q=0.9,fr;q=0.8,en;q=0.5") == "fr"
    assert choose_language(None, "en;q=0.4, fr-CA;q=0.6") == "fr"
    assert choose_language(None, "fr;q=0, en") == "en"
    assert choose_language("xx", "de") == "en"
    assert choose_language(None, None) == "en"


@given(st.text(max_size=200))
def test_any_accept_language_header_gives_a_supported_language(header: str) -> None:
    parse_accept_language(header)
    assert choose_language(None, header) in LANGUAGES


def test_dates_in_the_readers_zone_and_language_and_in_utc() -> None:
    moment = datetime(2026, 12, 3, 23, 30, tzinfo=UTC)
    assert local_time(moment, "Europe/Paris", "fr") == "4 déc. 2026, 00:30:00 (Europe/Paris)"
    assert local_time("2026-12-03T23:30:00Z", "America/New_York", "en") == \
        "Dec 3, 2026, 6:30:00\u202fPM (America/New_York)"
    assert utc_time("2026-12-04T00:30:00+01:00") == "2026-12-03 23:30:00 UTC"
    assert local_time(None, "UTC", "en") == ""

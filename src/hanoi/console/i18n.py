"""The console's languages: gettext catalogues from the committed ``.po`` files, chosen from
the user's preference, else the browser's Accept-Language; dates in the user's time zone.

The ``.po`` sources are compiled in memory when the console starts (Babel's ``write_mo`` into a
buffer read by ``gettext.GNUTranslations``): a fresh clone, an editable install and a wheel
all work without a build step, and no compiled ``.mo`` can fall out of date with its source.
"""

from __future__ import annotations

import gettext
import io
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DEFAULT_LANGUAGE = "en"
LANGUAGES = {"en": "English", "fr": "Français"}
"""The languages the console is complete in, each named in itself (for the switcher)."""

DOMAIN = "messages"


def N_(message: str) -> str:
    """Mark a string for extraction where it is defined; it is translated where it is shown."""
    return message


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The catalogue for ``language`` (English is the source language: no catalogue)."""
    if language == DEFAULT_LANGUAGE or language not in LANGUAGES:
        return gettext.NullTranslations()
    po = files("hanoi.console").joinpath("translations", language, "LC_MESSAGES", f"{DOMAIN}.po")
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def parse_accept_language(header: str | None) -> list[str]:
    """Language tags from an Accept-Language header, most preferred first (RFC 9110 12.5.4)."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            weighted.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(weighted)]


def choose_language(preference: str | None, accept_language: str | None) -> str:
    if preference in LANGUAGES:
        return str(preference)
    for tag in parse_accept_language(accept_language):
        primary = tag.split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    return DEFAULT_LANGUAGE


def as_datetime(value: Any) -> datetime | None:
    """A datetime from an aware datetime or an ISO 8601 text (as the ledger stores them)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def local_time(value: Any, zone: str, language: str, fmt: str = "medium") -> str:
    """``value`` in the reader's zone and language, with the zone's name shown."""
    moment = as_datetime(value)
    if moment is None:
        return ""
    return format_datetime(moment, format=f"{fmt}", tzinfo=ZoneInfo(zone), locale=language) + f" ({zone})"


def utc_time(value: Any) -> str:
    """``value`` in UTC, ISO 8601 to the second: the same for every reader, for deadlines."""
    moment = as_datetime(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""

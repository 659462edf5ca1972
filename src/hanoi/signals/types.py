"""Signal types: one canonical string for each indicator of fraud or attack.

A signal is unique by ``(type, normalised value)``, so everything that matches, deduplicates
or links signals depends on ``normalise`` giving one spelling for one thing. Each type is a
small plug-in of one interface (the shape of python-threatexchange's ``SignalType``): a
``name``, a ``max_length`` for the raw input, ``normalise(raw, ctx)`` which returns the
canonical string or raises ``InvalidInput`` with a precise reason, ``related(value)`` which
names the other signals it implies (a URL's host and registered domain, an e-mail's domain)
for campaign linking, and a few ``examples`` every implementation is tested with.

Pure code: no network, no files of our own, no clock. The public-suffix list is the snapshot
bundled with ``tldextract``; it is never fetched at run time.

Defanged input (``hxxp://``, ``example[.]com``, ``user[at]example.com``) is refanged: the signal
is the live indicator, and keeping the defanged spelling would split one indicator into several
signals. Whatever shows a value to a person should defang it on the way out.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import ClassVar
from urllib.parse import quote, unquote

import base58
import email_validator
import idna
import phonenumbers
import tldextract
from Crypto.Hash import keccak
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from hanoi.core import digests
from hanoi.core.errors import InvalidInput, invalid

FIELD = "value"

SignalKey = tuple[str, str]
"""What makes a signal unique: ``(type name, normalised value)``."""


# --------------------------------------------------------------------------- context


@dataclass(frozen=True, slots=True)
class NormaliseContext:
    """Per-node settings normalisation depends on.

    ``default_region`` (ISO 3166-1 alpha-2, e.g. ``"FR"``) is the region a phone number
    written without a country code is read in; ``None`` means such numbers are refused.
    """

    default_region: str | None = None

    def __post_init__(self) -> None:
        if self.default_region is None:
            return
        region = self.default_region.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise invalid(
                "default_region",
                f"unknown region {self.default_region!r}: expected an ISO 3166-1 alpha-2 code "
                "such as 'FR' that has a telephone numbering plan",
            )
        object.__setattr__(self, "default_region", region)


NO_REGION = NormaliseContext()


# --------------------------------------------------------------------------- interface


class SignalType(ABC):
    """One kind of signal. Implementations are stateless; the registry holds one instance."""

    name: ClassVar[str]
    description: ClassVar[str]
    max_length: ClassVar[int]
    """Longest raw input accepted (after trimming surrounding whitespace)."""
    examples: ClassVar[tuple[str, ...]]
    """Valid raw inputs; every type is tested with its own."""

    @abstractmethod
    def normalise(self, raw: str, ctx: NormaliseContext) -> str:
        """The canonical form of ``raw``; raises ``InvalidInput`` (field ``value``) if invalid."""

    def related(self, value: str) -> list[SignalKey]:
        """Signals implied by an already normalised ``value`` (none by default)."""
        return []


# --------------------------------------------------------------------------- shared helpers

# Zero-width characters and BOMs ride along with copy-paste from documents and spreadsheets.
_EDGE_JUNK = "\u200b\u200c\u200d\u2060\ufeff"


def _prepare(raw: object, kind: SignalType) -> str:
    """Trim, and refuse non-text, empty, over-long and control-character input."""
    if not isinstance(raw, str):
        raise invalid(FIELD, f"a {kind.name} must be given as text, not {type(raw).__name__}")
    if len(raw) > 4 * kind.max_length:  # don't even trim a huge value
        raise invalid(FIELD, _too_long(kind, len(raw)))
    text = raw.strip().strip(_EDGE_JUNK).strip()
    if not text:
        raise invalid(FIELD, f"empty {kind.name}")
    if len(text) > kind.max_length:
        raise invalid(FIELD, _too_long(kind, len(text)))
    for pos, ch in enumerate(text):
        if unicodedata.category(ch) == "Cc":
            raise invalid(FIELD, f"contains a control character (U+{ord(ch):04X}) at position {pos + 1}")
    return text


def _too_long(kind: SignalType, n: int) -> str:
    return f"too long: {n} characters, a {kind.name} may have at most {kind.max_length}"


_DEFANG_DOT = re.compile(r"\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\}", re.IGNORECASE)
_DEFANG_AT = re.compile(r"\[at\]|\(at\)|\{at\}|\[@\]|\(@\)", re.IGNORECASE)
_DEFANG_SCHEME = re.compile(r"^(?:hxxp|hxxps|hXXp|fxp|fxps)(?=\[?:)", re.IGNORECASE)
_DEFANG_COLON = re.compile(r"\[:\]//|\[://\]|\[:\]")


def _refang(text: str, *, at: bool = False) -> str:
    """Undo the common defanging conventions (as used by URLhaus, MISP, CERT reports)."""
    while True:  # until stable, so '[[.]]' does not refang differently on a second pass
        before = text
        text = _DEFANG_DOT.sub(".", text)
        text = _DEFANG_COLON.sub(lambda m: "://" if "//" in m.group(0) else ":", text)
        m = _DEFANG_SCHEME.match(text)
        if m:
            text = m.group(0).lower().replace("xx", "tt").replace("fxp", "ftp") + text[m.end() :]
        if at:
            text = _DEFANG_AT.sub("@", text)
        if text == before:
            return text


@lru_cache(maxsize=1)
def _suffix_list() -> tldextract.TLDExtract:
    # suffix_list_urls=() and cache_dir=None: only the snapshot shipped inside the package is
    # read, never the network and never a cache directory. Private suffixes (blogspot.com,
    # github.io, ...) count as suffixes, because there each subdomain belongs to a different
    # person: linking every *.github.io phishing page into one campaign would be wrong.
    return tldextract.TLDExtract(
        suffix_list_urls=(),
        cache_dir=None,
        fallback_to_snapshot=True,
        include_psl_private_domains=True,
    )


def registered_domain(host: str) -> str | None:
    """The domain a registrant controls (``www.example.co.uk`` -> ``example.co.uk``), if any.

    ``host`` must already be a normalised domain. ``None`` for a host whose suffix is not in the
    bundled public-suffix list (``a.internal``) or that is itself a public suffix.
    """
    parts = _suffix_list()(host)
    if not parts.suffix or not parts.domain:
        return None
    return f"{parts.domain}.{parts.suffix}"


_ASCII_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


def _hostname(host: str) -> str:
    """A DNS host name, lower-case, internationalised labels as punycode (IDNA 2008, UTS 46).

    Lenient where the DNS is (underscores, leading hyphens: seen in real phishing hosts),
    strict where a different reading would give a different signal.
    """
    try:
        # UTS 46 mapping: case folding, full-width dots and letters, NFC.
        mapped = idna.uts46_remap(host, std3_rules=False, transitional=False)
    except idna.IDNAError as exc:
        raise invalid(FIELD, f"host {host!r} is not a valid host name: {exc}") from None
    if mapped.endswith("."):  # the fully-qualified spelling names the same host
        mapped = mapped[:-1]
    if not mapped:
        raise invalid(FIELD, "empty host name")
    labels = mapped.split(".")
    out: list[str] = []
    for label in labels:
        if not label:
            raise invalid(FIELD, f"host {host!r} has an empty label ('..' or a leading dot)")
        if label.isascii():
            if not _ASCII_LABEL.fullmatch(label):
                if len(label) > 63:
                    raise invalid(FIELD, f"label {label[:20]!r}... is longer than 63 characters")
                bad = next(ch for ch in label if not _ASCII_LABEL.fullmatch(ch))
                raise invalid(FIELD, f"character {bad!r} is not allowed in a host name")
            if label.startswith("xn--"):
                try:
                    label[4:].encode("ascii").decode("punycode")
                except UnicodeError:
                    raise invalid(FIELD, f"label {label!r} is not valid punycode") from None
            out.append(label)
        else:
            try:
                out.append(idna.alabel(label).decode("ascii"))
            except idna.IDNAError as exc:
                raise invalid(
                    FIELD,
                    f"label {label!r} is not allowed in an internationalised domain name "
                    f"(IDNA 2008): {exc}; if the host exists, give its xn-- form",
                ) from None
    name = ".".join(out)
    if len(name) > 253:
        raise invalid(FIELD, f"host name is {len(name)} characters long, at most 253 allowed")
    if _NUMERIC_LABEL.fullmatch(out[-1]):
        raise invalid(FIELD, f"host {host!r} ends in a number but is not a valid IPv4 address")
    return name


def _whatwg_ipv4(host: str) -> str | None:
    """Browsers' reading of a host ending in a number as IPv4 (WHATWG URL "IPv4 parser").

    ``http://0x7f.1/`` and ``http://2130706433/`` both open 127.0.0.1, and phishing URLs use
    such spellings to dodge filters, so they must normalise to the dotted quad. ``None`` if the
    host does not end in a number (so it is a host name); an error if it does but is invalid.
    """
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if not _NUMERIC_LABEL.fullmatch(parts[-1].lower()):
        return None
    if len(parts) > 4:
        raise invalid(FIELD, f"host {host!r} ends in a number but has more than four parts")
    numbers: list[int] = []
    for part in parts:
        p = part.lower()
        try:
            if p.startswith("0x"):
                numbers.append(int(p[2:] or "0", 16))
            elif len(p) > 1 and p.startswith("0"):
                numbers.append(int(p[1:], 8))
            else:
                numbers.append(int(p, 10))
        except ValueError:
            raise invalid(FIELD, f"host {host!r} ends in a number but is not an IPv4 address") from None
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise invalid(FIELD, f"host {host!r} is an IPv4 address out of range")
    value = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        value += n * 256 ** (3 - i)
    return str(ipaddress.IPv4Address(value))


def _host_related(host: str) -> list[SignalKey]:
    if host.startswith("["):
        return [("ipv6", host[1:-1])]
    try:
        ipaddress.IPv4Address(host)
        return [("ipv4", host)]
    except ValueError:
        pass
    out: list[SignalKey] = [("domain", host)]
    reg = registered_domain(host)
    if reg and reg != host:
        out.append(("domain", reg))
    return out


# --------------------------------------------------------------------------- URL

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(//)?")
_PORT_AFTER_COLON = re.compile(r"\d*(?:[/?#]|$)")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21, "ftps": 990}
# WHATWG percent-encode sets: what a browser escapes before sending the request, so that
# 'a b' and 'a%20b' (or a raw 'é' and '%C3%A9') are one signal. '%' itself stays, so an escape
# already present is kept as written.
_PATH_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"<>`{}#?')
_QUERY_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "\"<>`'#")


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4 (``/a/./b/../c`` -> ``/a/c``), as a browser resolves it."""
    out: list[str] = []
    segments = path.split("/")[1:]
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    return "/" + "/".join(out)


class UrlType(SignalType):
    name = "url"
    description = "a web or FTP address (http, https, ws, wss, ftp, ftps)"
    max_length = 2048
    examples = (
        "http://ÉXAMPLE.рф:80/a?b#c",
        "hxxps://login.example[.]com/verify?id=1",
        "https://user:pass@www.example.co.uk:8443/path/",
        "http://[2001:DB8::1]:8080/",
    )

    def normalise(self, raw: str, ctx: NormaliseContext) -> str:
        text = _refang(_prepare(raw, self))
        m = _SCHEME.match(text)
        if m and m.group(2):
            scheme, rest = m.group(1).lower(), text[m.end() :]
        elif m and not _PORT_AFTER_COLON.match(text, m.end()):
            raise invalid(FIELD, f"'{m.group(1)}:' without '//' is not a network URL")
        else:
            # No scheme at all ('example.com/login'): read as http, as browsers and most
            # feeds do; 'host:port/path' lands here too.
            scheme, rest = "http", text
        if scheme not in _DEFAULT_PORTS:
            raise invalid(
                FIELD,
                f"scheme '{scheme}' is not supported; expected one of " + ", ".join(sorted(_DEFAULT_PORTS)),
            )
        # Browsers treat '\' like '/' before the query and skip extra slashes after the scheme:
        # 'https://bank.example\@evil.example' opens bank.example, not evil.example.
        cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
        rest = rest[:cut].replace("\\", "/").lstrip("/") + rest[cut:]
        rest = rest.split("#", 1)[0]  # the fragment never leaves the browser
        rest, _, query = rest.partition("?")
        authority, slash, path = rest.partition("/")
        path = slash + path
        hostport = authority.rpartition("@")[2]  # credentials are dropped
        host, port = self._split_port(hostport)
        host = self._host(host)
        netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
        path = _remove_dot_segments(quote(path or "/", safe=_PATH_SAFE))
        query = quote(query, safe=_QUERY_SAFE)
        value = f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")
        if len(value) > self.max_length:
            raise invalid(FIELD, f"too long once normalised: {len(value)} characters")
        return value

    @staticmethod
    def _split_port(hostport: str) -> tuple[str, int | None]:
        if hostport.startswith("["):
            end = hostport.find("]")
            if end < 0:
                raise invalid(FIELD, "IPv6 host is missing its closing ']'")
            host, after = hostport[: end + 1], hostport[end + 1 :]
            if after and not after.startswith(":"):
                raise invalid(FIELD, f"unexpected {after!r} after the IPv6 host")
            port_text = after[1:]
        else:
            host, colon, port_text = hostport.rpartition(":")
            if not colon:
                host, port_text = hostport, ""
        if not port_text:
            return host, None
        if not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65535:
            raise invalid(FIELD, f"port {port_text!r} is not a number from 0 to 65535")
        return host, int(port_text)

    @staticmethod
    def _host(host: str) -> str:
        if not host:
            raise invalid(FIELD, "URL has no host")
        if host.startswith("["):
            inner = host[1:-1]
            if "%" in inner:
                raise invalid(FIELD, "an IPv6 zone id (%...) is local to one machine")
            try:
                return f"[{ipaddress.IPv6Address(inner).compressed}]"
            except ValueError as exc:
                raise invalid(FIELD, f"invalid IPv6 host: {exc}") from None
        decoded = unquote(host)  # browsers percent-decode the host: '%65xample.com'
        try:
            mapped = idna.uts46_remap(decoded, std3_rules=False, transitional=False)
        except idna.IDNAError as exc:
            raise invalid(FIELD, f"host {decoded!r} is not a valid host name: {exc}") from None
        ipv4 = _whatwg_ipv4(mapped)
        return ipv4 if ipv4 is not None else _hostname(decoded)

    def related(self, value: str) -> list[SignalKey]:
        netloc = value.split("://", 1)[1].split("/", 1)[0]  # a normalised path starts with /
        host = netloc[: netloc.index("]") + 1] if netloc.startswith("[") else netloc.partition(":")[0]
        return _host_related(host)


# --------------------------------------------------------------------------- domain


class DomainType(SignalType):
    name = "domain"
    description = "a DNS host or domain name"
    max_length = 320  # room for a defanged or fully-qualified spelling of a 253-character name
    examples = ("WWW.Example.COM.", "example[.]co[.]uk", "ÉXAMPLE.рф", "foo.blogspot.com")

    def normalise(self, raw: str, ctx: NormaliseContext) -> str:
        text = _refang(_prepare(raw, self))
        if "://" in text or "/" in text:
            raise invalid(FIELD, "looks like a URL, not a domain: give it as type 'url'")
        if "@" in text:
            raise invalid(FIELD, "looks like an e-mail address, not a domain")
        if text.startswith("*."):
            raise invalid(FIELD, "wildcard domains are not signals: give the domain itself")
        try:
            ipaddress.ip_address(text.strip("[]"))
        except ValueError:
            pass
        else:
            raise invalid(FIELD, "is an IP address, not a domain: give it as type ipv4 or ipv6")
        if ":" in text:
            raise invalid(FIELD, "a domain has no port: give 'host:port' as a url")
        name = _hostname(text)
        if "." not in name:
            raise invalid(FIELD, f"{name!r} is a single label; a domain has at least two")
        return name

    def related(self, value: str) -> list[SignalKey]:
        reg = registered_domain(value)
        return [("domain", reg)] if reg and reg != value else []


# --------------------------------------------------------------------------- IP addresses


class IPv4Type(SignalType):
    name = "ipv4"
    description = "an IPv4 address in dotted-decimal form"
    max_length = 64
    examples = ("192.0.2.1", "198.51.100[.]7", " 203.0.113.255 ")

    def normalise(self, raw: str, ctx: NormaliseContext) -> str:
        text = _refang(_prepare(raw, self))
        if "/" in text:
            raise invalid(FIELD, "has a prefix length: give it as type 'cidr'")
        if text.count(":") == 1:
            raise invalid(FIELD, "has a port: give the address alone")
        try:
            return str(ipaddress.IPv4Address(text))
        except ValueError as exc:
            # ipaddress refuses leading zeros: '010.0.0.1' is 10.0.0.1 to some tools and
            # 8.0.0.1 (octal) to others, so guessing would file the wrong address.
            raise invalid(FIELD, f"not an IPv4 address: {exc}") from None


class IPv6Type(SignalType):
    name = "ipv6"
    description = "an IPv6 address (stored in RFC 5952 compressed lower-case form)"
    max_length = 128
    examples = ("2001:DB8:0:0:0:0:0:1", "[2001:db8::1]", "::ffff:192.0.2.1")

    def normalise(self, raw: str, ctx: NormaliseContext) -> str:
        text = _refang(_prepare(raw, self))
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        if "%" in text:
            raise invalid(FIELD, "an IPv6 zone id (%...) is local to one machine, not a signal")
        if "/" in text:
            raise invalid(FIELD, "has a prefix length: give it as type 'cidr'")
        try:
            return ipaddress.IPv6Address(text).compressed
        except ValueError as exc:
            raise invalid(FIELD, f"not an IPv6 address: {exc}") from None

    def related(self, value: str) -> list[SignalKey]:
        mapped = ipaddress.IPv6Address(value).ipv4_mapped
        return [("ipv4", str(mapped))] if mapped else []


MIN_PREFIX = {4: 8, 6: 16}
"""Shortest prefix a cidr signal may have: a /0 would match every address there is."""


class CidrType(SignalType):
    name = "cidr"
    description = "an IPv4 or IPv6 network in CIDR notation"
    max_length = 128
    examples = ("192.0.2.0/24", "192.0.2.77/24", "2001:DB8::/32")

    def normalise(self, raw: str, ctx: NormaliseContext) -> str:
        text = _refang(_prepare(raw, self))
        if "/" not in text:
            raise invalid(FIELD, "has no prefix length (e.g. /24); a single address is an ipv4 or ipv6")
        addr, _, prefix = text.partition("/")
        if not prefix.isascii() or not prefix.isdigit():
            raise invalid(FIELD, f"prefix length {prefix!r} is not a number")
        try:
            # strict=False: '192.0.2.77/24' is read as the network 192.0.2.0/24, as
            # firewalls do; the host bits carry no meaning in a block list.
            net = ipaddress.ip_network(f"{addr}/{int(prefix)}", strict=False)
        except ValueError as exc:
            raise invalid(FIELD, f"not a network: {exc}") from None
        floor = MIN_PREFIX[net.version]
        if net.prefixlen < floor:
            raise invalid(
                FIELD,
                f"/{net.prefixlen} is too broad: an IPv{net.version} network needs a prefix of at least /{floor}",
            )
        return net.with_prefixlen


# --------------------------------------------------------------------------- e-mail


class EmailType(SignalType):
    name = "email"
    description = "an e-mail address"
    max_length = 320
    examples = ("Alice.Smith@ÉXAMPLE.рф", "mailto:payments@Example.COM", "bob[at]example[.]org")

    def normalise(self, raw: str, ctx: NormaliseContext) -> str:
        text = _refang(_prepare(raw, self), at=True)
        if text[:7].lower() == "mailto:":
            text = text[7:].split("?", 1)[0]
        if "@" not in text:
            raise invalid(FIELD, "an e-mail address needs an '@'")
        try:
            checked = email_validator.validate_email(text, check_deliverability=False, allow_smtputf8=True)
        except email_validator.EmailNotValidError as exc:
            raise invalid(FIELD, f"not a valid e-mail address: {exc}") from None
        # The local part is kept as written (only Unicode-NFC): RFC 5321 lets each mail system
        # decide whether 'Alice' and 'alice' are one mailbox, and folding case could merge two
        # different people's addresses into one signal. The domain is case-insensitive.
        local = unicodedata.normalize("NFC", text.rpartition("@")[0])
        return f"{local}@{_hostname(checked.ascii_domain)}"

    def related(self, value: str) -> list[SignalKey]:
        return _host_related(value.rpartition("@")[2])


# --------------------------------------------------------------------------- phone

_PARSE_ERRORS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country calling code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "does not look like a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the 00 / + prefix",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short to be a phone number",
    phonenumbers.NumberParseException.TOO_LONG: "too long to be a phone number",
}
_POSSIBLE = {
    phonenumbers.ValidationResult.TOO_SHORT: "too short",
    phonenumbers.ValidationResult.TOO_LONG: "too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "of a length no number there has",
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "under an unknown country calling code",
}


class PhoneType(SignalType):
    name = "phone"
    description = "a telephone number, stored in E.164 form (+ country code, digits only)"
    max_length = 64
    examples = ("+1 650-253-0000", "tel:+33-1-42-68-53-00", "+44 (0)7911 123456")

    def normalise(self, raw: str, ctx: NormaliseContext) -> str:
        text = _prepare(raw, self)
        region = ctx.default_region
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException as exc:
            if (
                exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE
                and region is None
                and not text.lstrip().startswith(("+", "tel:+"))
            ):
                raise invalid(
                    FIELD,
                    "no country code (+...) and this node has no default region to read it in",
                ) from None
            reason = _PARSE_ERRORS.get(exc.error_type, "not a phone number")
            raise invalid(FIELD, reason) from None
        where = phonenumbers.region_code_for_number(number) or f"+{number.country_code}"
        if not phonenumbers.is_valid_number(number):
            why = phonenumbers.is_possible_number_with_reason(number)
            if why in _POSSIBLE:
                raise invalid(FIELD, f"number is {_POSSIBLE[why]} for {where}")
            raise invalid(FIELD, f"not a number in use in {where}'s numbering plan")
        # E.164 has no extension: '...;ext=123' reaches the same switchboard.
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --------------------------------------------------------------------------- IBAN


class IbanType(SignalType):
    name = "iban"
    description = "an International Bank Account Number, stored compact and upper-case"
    max_length = 64
    examples = ("de89 3704 0044 0532 0130 00", "IBAN GB82 WEST 1234 5698 7654 32")

    def normalise(self, raw: str, ctx: NormaliseContext) -> str:
        text = _prepare(raw, self)
        # The printed form (ISO 13616) may start with 'IBAN' and be grouped by spaces or hyphens.
        text = re.sub(r"^IBAN:?\s*", "", text, flags=re.IGNORECASE)
        text = re.sub(r"[\s-]", "", text)
        try:
            return IBAN(text).compact
        except SchwiftyException as exc:
            raise invalid(FIELD, f"not a valid IBAN: {exc}") from None


# --------------------------------------------------------------------------- Bitcoin

_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_CONST = 1  # BIP-173
_BECH32M_CONST = 0x2BC830A3  # BIP-350
_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_VERSIONS = {0x00: "P2PKH", 0x05: "P2SH"}
_BASE58_TESTNET = {0x6F, 0xC4}


def _bech32_polymod(values: Iterable[int]) -> int:
    # BIP-173 reference checksum (BCH code over GF(32)).
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            chk ^= generator[i] if (top >> i) & 1 else 0
    return chk


def _bech32_hrp_expand(hrp: str) -> list[int]:
    return [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]


def _convertbits(data: Iterable[int], frombits: int, tobits: int, pad: bool) -> list[int] | None:
    acc = bits = 0
    ret: list[int] = []
    maxv = (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            ret.append((acc >> bits) & maxv)
    if pad:
        if bits:
            ret.append((acc << (tobits - bits)) & maxv)
    elif bits >= frombits or ((acc << (tobits - bits)) & maxv):
        return None
    return ret


def _segwit_encode(hrp: str, witver: int, program: bytes) -> str:
    """Encode a segwit address (bech32 for v0, bech32m for v1+); used by tests and examples."""
    data = [witver, *(_convertbits(program, 8, 5, True) or [])]
    const = _BECH32_CONST if witver == 0 else _BECH32M_CONST
    polymod = _bech32_polymod([*_bech32_hrp_expand(hrp), *data, 0, 0, 0, 0, 0, 0]) ^ const
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32_CHARSET[d] for d in data + checksum)


def _segwit_decode(addr: str) -> str:
    """Validate a segwit address by BIP-173 and BIP-350; the lower-case form if valid."""
    if addr.lower() != addr and addr.upper() != addr:
        raise invalid(FIELD, "a bech32 address must not mix upper and lower case")
    addr = addr.lower()
    if len(addr) > 90:
        raise invalid(FIELD, f"a bech32 address has at most 90 characters, this has {len(addr)}")
    pos = addr.rfind("1")
    hrp = addr[:pos]
    if hrp in ("tb", "bcrt"):
        raise invalid(FIELD, "a testnet address: only mainnet (bc1...) addresses are signals")
    if hrp != "bc":
        raise invalid(FIELD, "not a Bitcoin mainnet address (expected the prefix bc1)")
    bad = next((ch for ch in addr[pos + 1 :] if ch not in _BECH32_CHARSET), None)
    if bad is not None:
        raise invalid(FIELD, f"character {bad!r} is not in the bech32 alphabet")
    data = [_BECH32_CHARSET.index(ch) for ch in addr[pos + 1 :]]
    if len(data) < 7:
        raise invalid(FIELD, "too short for a bech32 address")
    const = _bech32_polymod(_bech32_hrp_expand(hrp) + data)
    if const not in (_BECH32_CONST, _BECH32M_CONST):
        raise invalid(FIELD, "bech32 checksum does not match (a mistyped address?)")
    witver, program = data[0], _convertbits(data[1:-6], 5, 8, False)
    if witver > 16:
        raise invalid(FIELD, f"witness version {witver} does not exist (0 to 16)")
    if program is None or not 2 <= len(program) <= 40:
        raise invalid(FIELD, "witness program has an invalid length or padding")
    if witver == 0 and len(program) not in (20, 32):
        raise invalid(FIELD, "a version 0 witness program is 20 or 32 bytes (BIP-141)")
    if witver == 0 and const != _BECH32_CONST:
        raise invalid(FIELD, "a version 0 address must use bech32, not bech32m (BIP-350)")
    if witver != 0 and const != _BECH32M_CONST:
        raise invalid(FIELD, f"a version {witver} address must use bech32m, not bech32 (BIP-350)")
    return addr


class BitcoinType(SignalType):
    name = "btc"
    description = "a Bitcoin mainnet address: base58check (1..., 3...) or bech32/bech32m (bc1...)"
    max_length = 256  # room for a BIP-21 'bitcoin:' URI with its query
    examples = (
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
        "bitcoin:3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy?amount=0.1",
        "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
    )

    def normalise(self, raw: str, ctx: NormaliseContext) -> str:
        text = _prepare(raw, self)
        if text[:8].lower() == "bitcoin:":  # BIP-21 payment URI: the address is the path
            text = text[8:].split("?", 1)[0]
        if text[:3].lower() in ("bc1", "tb1") or text[:5].lower() == "bcrt1":
            return _segwit_decode(text)
        bad = next((ch for ch in text if ch not in _BASE58_ALPHABET), None)
        if bad is not None:
            raise invalid(FIELD, f"character {bad!r} is not in base58 (which never uses 0, O, I or l)")
        try:
            payload = base58.b58decode_check(text)
        except ValueError:
            raise invalid(FIELD, "base58check checksum does not match (a mistyped address?)") from None
        if len(payload) != 21:
            raise invalid(FIELD, f"decodes to {len(payload)} bytes; an address decodes to 21")
        if payload[0] in _BASE58_TESTNET:
            raise invalid(FIELD, "a testnet address: only mainnet addresses are signals")
        if payload[0] not in _BASE58_VERSIONS:
            raise invalid(FIELD, f"version byte 0x{payload[0]:02x} is not a Bitcoin address type")
        return base58.b58encode_check(payload).decode("ascii")


# --------------------------------------------------------------------------- Ethereum


def eip55(address_hex: str) -> str:
    """EIP-55 mixed-case checksum spelling of 40 hex digits (keccak-256, not NIST SHA3-256)."""
    lower = address_hex.lower()
    digest = keccak.new(digest_bits=256, data=lower.encode("ascii")).hexdigest()
    return "0x" + "".join(ch.upper() if ch.isalpha() and int(digest[i], 16) >= 8 else ch for i, ch in enumerate(lower))


class EthereumType(SignalType):
    name = "eth"
    description = "an Ethereum (or EVM-chain) address, stored with its EIP-55 checksum"
    max_length = 128  # room for an EIP-681 'ethereum:' URI
    examples = (
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xde709f2102306220921060314715629080e2fb77",
        "ethereum:0x52908400098527886E0F7030069857D2E4169EE7@1",
    )

    def normalise(self, raw: str, ctx: NormaliseContext) -> str:
        text = _prepare(raw, self)
        if text[:9].lower() == "ethereum:":  # EIP-681 URI: address, then @chain, /function, ?
            text = re.split(r"[@/?]", text[9:], maxsplit=1)[0]
        if text[:2] not in ("0x", "0X"):
            # Without 0x, 40 hex digits are just as likely a SHA-1.
            raise invalid(FIELD, "an Ethereum address starts with 0x")
        digits = text[2:]
        bad = next((ch for ch in digits if ch not in "0123456789abcdefABCDEF"), None)
        if bad is not None:
            raise invalid(FIELD, f"character {bad!r} is not a hexadecimal digit")
        if len(digits) != 40:
            raise invalid(FIELD, f"has {len(digits)} hex digits; an Ethereum address has 40")
        checksummed = eip55(digits)
        # All-lower or all-upper carries no checksum and is accepted; mixed case claims one.
        if digits not in (digits.lower(), digits.upper()) and "0x" + digits != checksummed:
            raise invalid(FIELD, "mixed-case address does not match its EIP-55 checksum (a mistyped address?)")
        return checksummed


# --------------------------------------------------------------------------- file hashes



class _HexHash(SignalType):
    digits: ClassVar[int]
    label: ClassVar[str]

    def normalise(self, raw: str, ctx: NormaliseContext) -> str:
        text = _prepare(raw, self).lower()
        # 'sha256:...' (OCI digests, some feeds) or 'SHA-256:...'.
        prefix, colon, rest = text.partition(":")
        if colon and prefix.replace("-", "") == self.name:
            text = rest.strip()
        return digests.parse_digest(self.name, text, FIELD)


class Md5Type(_HexHash):
    name = "md5"
    description = "an MD5 file hash (32 hex digits)"
    digits = 32
    label = "an MD5"
    max_length = 80
    examples = ("5D41402ABC4B2A76B9719D911017C592",)


class Sha1Type(_HexHash):
    name = "sha1"
    description = "a SHA-1 file hash (40 hex digits)"
    digits = 40
    label = "a SHA-1"
    max_length = 96
    examples = (
        "AAF4C61DDCC5E8A2DABEDE0F3B482CD9AEA9434D",
        "sha1:aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
    )


class Sha256Type(_HexHash):
    name = "sha256"
    description = "a SHA-256 file hash (64 hex digits)"
    digits = 64
    label = "a SHA-256"
    max_length = 128
    examples = ("sha256:2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824",)


# --------------------------------------------------------------------------- registry

SIGNAL_TYPES: Mapping[str, SignalType] = MappingProxyType(
    {
        t.name: t
        for t in (
            UrlType(),
            DomainType(),
            IPv4Type(),
            IPv6Type(),
            CidrType(),
            EmailType(),
            PhoneType(),
            IbanType(),
            BitcoinType(),
            EthereumType(),
            Md5Type(),
            Sha1Type(),
            Sha256Type(),
        )
    }
)

MAX_VALUE_LENGTH: Mapping[str, int] = MappingProxyType({name: t.max_length for name, t in SIGNAL_TYPES.items()})
"""Longest raw value accepted per type (after trimming); longer input is refused."""


def signal_type(name: str) -> SignalType:
    """The registered type called ``name``; ``InvalidInput`` (field ``type``) if unknown."""
    try:
        return SIGNAL_TYPES[name]
    except (KeyError, TypeError):
        raise invalid("type", f"unknown signal type {name!r}; one of: {', '.join(SIGNAL_TYPES)}") from None


def normalise(type_name: str, raw: str, ctx: NormaliseContext = NO_REGION) -> str:
    """The canonical value of ``raw`` as a signal of type ``type_name``."""
    return signal_type(type_name).normalise(raw, ctx)


def signal_key(type_name: str, raw: str, ctx: NormaliseContext = NO_REGION) -> SignalKey:
    """``(type, normalised value)``: the identity of a signal."""
    return (type_name, normalise(type_name, raw, ctx))


def related(type_name: str, value: str) -> list[SignalKey]:
    """Signals implied by an already normalised value (for campaign linking)."""
    return signal_type(type_name).related(value)


_HEX_ONLY = re.compile(r"(?:md5:|sha1:|sha-1:|sha256:|sha-256:)?[0-9a-fA-F]+")
_PHONE_LIKE = re.compile(r"(?:tel:)?\+?[0-9()\-.\s/]{6,}")
_IBAN_LIKE = re.compile(r"(?:IBAN:?\s*)?[A-Za-z]{2}[0-9]{2}[A-Za-z0-9\s-]{8,}", re.IGNORECASE)


def _candidates(text: str) -> list[str]:
    """Types worth trying for ``text``, most specific first."""
    lower = text.lower()
    if lower.startswith("ethereum:"):
        return ["eth"]
    if lower.startswith("0x"):  # an Ethereum address first, but '0x.example' is a host
        return ["eth", *_shape_candidates(text, lower)]
    return _shape_candidates(text, lower)


def _shape_candidates(text: str, lower: str) -> list[str]:
    if "://" in text or lower.startswith(("hxxp", "http:", "https:")):
        return ["url"]
    if lower.startswith("mailto:") or "@" in text or "[at]" in lower or "(at)" in lower:
        return ["email", "url"]
    if lower.startswith(("bitcoin:", "bc1")):
        return ["btc"]
    if "/" in text:
        return ["cidr", "url"]
    out = ["md5", "sha1", "sha256"] if _HEX_ONLY.fullmatch(text) else ["ipv4", "ipv6"]
    if _IBAN_LIKE.fullmatch(text):
        out.append("iban")
    if text[:1] in ("1", "3") and text.isalnum():
        out.append("btc")
    if _PHONE_LIKE.fullmatch(text):
        out.append("phone")
    out.append("domain")
    if ":" in text:  # 'host:port' is a URL without its scheme
        out.append("url")
    return out


def detect_type(raw: str, ctx: NormaliseContext = NO_REGION) -> str | None:
    """Best-effort guess of a value's type (for a CSV column or a lookup without one).

    Returns the first type, in a fixed order of preference, that normalises ``raw``; ``None``
    if none does. Ambiguity is resolved by shape: 32/40/64 hex digits are a hash (never an
    Ethereum address, which needs 0x), a host alone is a domain, a host with a path a URL.
    """
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not text or len(text) > max(MAX_VALUE_LENGTH.values()):
        return None
    for name in _candidates(text):
        try:
            SIGNAL_TYPES[name].normalise(text, ctx)
        except InvalidInput:
            continue
        return name
    return None


PERSONAL_DATA: frozenset[str] = frozenset({"email", "phone", "iban", "btc", "eth"})
"""Types whose values identify or lead to a person (an address, a number, an account, a wallet):
personal data under Art. 36. A report of one is passed on to a third member only with its
originator's stated consent; the other types (URL, domain, IP address, network, file hash) are
infrastructure and follow their TLP unless the originator refused consent."""


def consent_for(type_name: str, stated: bool | None) -> bool:
    """Whether a report of this type may be passed on to a third member: the originator's
    stated consent if it gave one, otherwise no for personal data and yes (its TLP decides)
    for infrastructure."""
    if stated is not None:
        return stated
    return type_name not in PERSONAL_DATA


UNDETECTED = "cannot tell what kind of signal this is"


def undetected_reason(raw: str, ctx: NormaliseContext = NO_REGION) -> str:
    """Why ``detect_type`` found no type for ``raw``: a value shaped like an IBAN or an address
    whose checksum fails is reported as that checksum error (a mistyped digit), not as a value
    of no known kind."""
    text = raw.strip() if isinstance(raw, str) else ""
    for name in _candidates(text) if text else ():
        try:
            SIGNAL_TYPES[name].normalise(text, ctx)
        except InvalidInput as err:
            message = "; ".join(p.message for p in err.problems) or err.detail
            if "checksum" in message.lower():
                return f"looks like {SIGNAL_TYPES[name].description.split(',')[0]} ({name}), but {message}"
    return UNDETECTED


# --------------------------------------------------------------------------- batches


@dataclass(frozen=True, slots=True)
class Accepted:
    """One value of a batch that normalised; ``ref`` is its line number or object id."""

    ref: str
    type: str
    value: str

    @property
    def key(self) -> SignalKey:
        return (self.type, self.value)


@dataclass(frozen=True, slots=True)
class Rejected:
    """One value of a batch that did not normalise, with the reason (for the import report)."""

    ref: str
    type: str | None
    raw: str
    reason: str


def normalise_batch(
    rows: Iterable[tuple[str, str | None, str]], ctx: NormaliseContext = NO_REGION
) -> tuple[list[Accepted], list[Rejected]]:
    """Normalise ``(ref, type or None, raw)`` rows; a bad row is reported, never fatal.

    A row without a type is typed by ``detect_type``. Duplicates are kept (each with its own
    ``ref``); whoever stores them collapses them by ``Accepted.key``.
    """
    accepted: list[Accepted] = []
    rejected: list[Rejected] = []
    for ref, type_name, raw in rows:
        shown = raw if isinstance(raw, str) else repr(raw)
        name = type_name if type_name else detect_type(raw, ctx)
        if name is None:
            rejected.append(Rejected(ref, None, shown, undetected_reason(raw, ctx)))
            continue
        try:
            accepted.append(Accepted(ref, name, normalise(name, raw, ctx)))
        except InvalidInput as exc:
            reason = "; ".join(p.message for p in exc.problems) or exc.detail
            rejected.append(Rejected(ref, type_name, shown, reason))
    return accepted, rejected

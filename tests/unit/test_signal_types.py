"""Signal normalisation: real-world oddities per type, and properties over generated values."""

from __future__ import annotations

import socket
from typing import Any

import base58
import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schwifty import IBAN

from hanoi.core import digests
from hanoi.core.errors import InvalidInput
from hanoi.signals import types as sig
from hanoi.signals.types import (
    MAX_VALUE_LENGTH,
    SIGNAL_TYPES,
    NormaliseContext,
    detect_type,
    normalise,
    normalise_batch,
    registered_domain,
    related,
)

GB = NormaliseContext("GB")
NONE = NormaliseContext()


def reason(type_name: str, raw: Any, ctx: NormaliseContext = NONE) -> str:
    """The message a user sees for a rejected value (fails the test if it was accepted)."""
    with pytest.raises(InvalidInput) as caught:
        normalise(type_name, raw, ctx)
    [problem] = caught.value.problems
    assert problem.field == "value"
    return problem.message


# --------------------------------------------------------------------------- the interface


@pytest.mark.parametrize("name", sorted(SIGNAL_TYPES))
def test_every_type_honours_the_interface(name: str) -> None:
    kind = SIGNAL_TYPES[name]
    assert kind.name == name
    assert MAX_VALUE_LENGTH[name] == kind.max_length > 0
    assert kind.examples
    for raw in kind.examples:
        value = kind.normalise(raw, GB)
        assert kind.normalise(value, GB) == value, raw
        assert len(value) <= kind.max_length
        for other_type, other_value in kind.related(value):
            # What a signal implies is itself a valid, already normalised signal.
            assert normalise(other_type, other_value, GB) == other_value


@pytest.mark.parametrize("name", sorted(SIGNAL_TYPES))
def test_too_long_empty_and_non_text_input_are_refused_clearly(name: str) -> None:
    limit = MAX_VALUE_LENGTH[name]
    message = reason(name, "a" * (limit + 1))
    assert message == f"too long: {limit + 1} characters, a {name} may have at most {limit}"
    assert "too long" in reason(name, "a" * (100 * limit))  # refused before any parsing
    assert reason(name, "  \t ") == f"empty {name}"
    assert "must be given as text" in reason(name, 12345)


def test_control_characters_are_refused_with_their_position() -> None:
    assert reason("domain", "exa\x00mple.com") == ("contains a control character (U+0000) at position 4")
    assert "U+000A" in reason("url", "http://example.com/a\nb")


def test_an_unknown_type_is_an_error_on_the_type_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise("bitcoin", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")
    assert caught.value.problems[0].field == "type"
    assert "btc" in caught.value.problems[0].message


def test_an_unknown_default_region_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        NormaliseContext("XX")
    assert caught.value.problems[0].field == "default_region"
    assert NormaliseContext(" fr ").default_region == "FR"


# --------------------------------------------------------------------------- URL


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # IDN host to punycode, default port, fragment dropped, path and query kept
        ("http://ÉXAMPLE.рф:80/a?b#c", "http://xn--xample-9ua.xn--p1ai/a?b"),
        # upper-case scheme and host; credentials removed
        ("HTTPS://user:pass@Example.COM/Login", "https://example.com/Login"),
        ("https://user@example.com:443/", "https://example.com/"),
        # 443 is only the default for https
        ("http://example.com:443", "http://example.com:443/"),
        ("https://example.com:80/", "https://example.com:80/"),
        ("ftp://files.example.com:21/x", "ftp://files.example.com/x"),
        # defanged forms are refanged
        ("hxxp://evil[.]example[.]com/x", "http://evil.example.com/x"),
        ("hXXps[:]//login(.)example{.}com/", "https://login.example.com/"),
        ("fxp://files[dot]example[dot]com/", "ftp://files.example.com/"),
        # trailing dot of a fully-qualified host
        ("http://www.example.com./", "http://www.example.com/"),
        # IPv6 literals: compressed, lower-case, still bracketed
        ("http://[2001:DB8:0:0::1]:8080/x", "http://[2001:db8::1]:8080/x"),
        # numeric hosts as browsers read them (phishing obfuscation)
        ("http://0x7f.1/", "http://127.0.0.1/"),
        ("http://2130706433/", "http://127.0.0.1/"),
        ("http://0177.0.0.01/", "http://127.0.0.1/"),
        # backslash is a slash to a browser: this opens bank.example, not evil.example
        ("https://bank.example\\@evil.example/", "https://bank.example/@evil.example/"),
        ("http:///example.com//a", "http://example.com//a"),
        # no scheme: read as http
        ("example.com/login", "http://example.com/login"),
        ("example.com:8080", "http://example.com:8080/"),
        # empty path is '/', dot segments resolved, an empty query dropped
        ("http://example.com", "http://example.com/"),
        ("http://example.com/a/./b/../c", "http://example.com/a/c"),
        ("http://example.com?", "http://example.com/"),
        # what a browser escapes is escaped; existing escapes are kept as written
        ("http://example.com/a b/é?q=a b&r=%2F", "http://example.com/a%20b/%C3%A9?q=a%20b&r=%2F"),
        # percent-encoded and full-width host characters
        ("http://%65xample.com/", "http://example.com/"),
        ("http://example\uff0ecom/", "http://example.com/"),
        # underscores and existing punycode labels are real host names
        ("http://my_site.example.com/", "http://my_site.example.com/"),
        ("http://XN--I-7IQ.ws/", "http://xn--i-7iq.ws/"),
    ],
)
def test_url_normalisation(raw: str, expected: str) -> None:
    assert normalise("url", raw) == expected
    assert normalise("url", expected) == expected


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("javascript:alert(1)", "'javascript:' without '//' is not a network URL"),
        ("mailto:a@example.com", "without '//'"),
        ("file:///etc/passwd", "scheme 'file' is not supported"),
        ("http://", "URL has no host"),
        ("http://example.com:99999/", "port '99999' is not a number from 0 to 65535"),
        ("http://example.com:8o/", "port '8o'"),
        ("http://1.2.3.999/", "IPv4 address out of range"),
        ("http://1.2.3.4.5/", "more than four parts"),
        ("http://[2001:db8::1/", "closing ']'"),
        ("http://[fe80::1%25eth0]/", "zone id"),
        ("http://exa mple.com/", "character ' ' is not allowed"),
        ("http://a..b.com/", "empty label"),
        ("http://i\u2764.ws/", "IDNA 2008"),
        ("http://xn--zz.com/", "not valid punycode"),
    ],
)
def test_url_rejections_say_why(raw: str, why: str) -> None:
    assert why in reason("url", raw)


def test_url_related_gives_host_and_registered_domain() -> None:
    assert related("url", "https://login.example.co.uk/x") == [
        ("domain", "login.example.co.uk"),
        ("domain", "example.co.uk"),
    ]
    assert related("url", "http://example.com:8080/") == [("domain", "example.com")]
    assert related("url", "http://[2001:db8::1]:8080/") == [("ipv6", "2001:db8::1")]
    assert related("url", "http://192.0.2.1/") == [("ipv4", "192.0.2.1")]


def test_registered_domain_treats_private_suffixes_as_suffixes() -> None:
    # Each *.blogspot.com / *.github.io site has its own owner: one campaign is not all of them.
    assert registered_domain("evil.blogspot.com") == "evil.blogspot.com"
    assert registered_domain("a.b.evil.github.io") == "evil.github.io"
    assert registered_domain("www.example.co.uk") == "example.co.uk"
    assert registered_domain("xn--xample-9ua.xn--p1ai") == "xn--xample-9ua.xn--p1ai"
    assert registered_domain("host.internal-only") is None
    assert registered_domain("co.uk") is None


def test_public_suffix_list_is_the_bundled_snapshot_never_the_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    sig._suffix_list.cache_clear()  # build a fresh extractor with the network gone
    try:
        assert registered_domain("a.b.example.com.au") == "example.com.au"
        assert related("url", "https://www.example.co.jp/") == [
            ("domain", "www.example.co.jp"),
            ("domain", "example.co.jp"),
        ]
    finally:
        sig._suffix_list.cache_clear()


# --------------------------------------------------------------------------- domain


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("WWW.Example.COM.", "www.example.com"),
        ("example[.]co[.]uk", "example.co.uk"),
        ("ÉXAMPLE.рф", "xn--xample-9ua.xn--p1ai"),
        ("faß.de", "xn--fa-hia.de"),  # IDNA 2008: ß is kept, not mapped to ss as in IDNA 2003
        ("\ufeffexample.com\u200b", "example.com"),  # BOM / zero-width from copy-paste
        ("_dmarc.example.com", "_dmarc.example.com"),
    ],
)
def test_domain_normalisation(raw: str, expected: str) -> None:
    assert normalise("domain", raw) == expected


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("http://example.com/", "looks like a URL"),
        ("example.com/a", "looks like a URL"),
        ("a@example.com", "e-mail"),
        ("192.0.2.1", "is an IP address"),
        ("[2001:db8::1]", "is an IP address"),
        ("example.com:8080", "a domain has no port"),
        ("localhost", "single label"),
        ("*.example.com", "wildcard"),
        ("example..com", "empty label"),
        ("a" * 64 + ".com", "longer than 63"),
        (".".join(["a" * 60] * 5), "at most 253"),
        ("1.2.3.999", "ends in a number"),
    ],
)
def test_domain_rejections_say_why(raw: str, why: str) -> None:
    assert why in reason("domain", raw)


def test_domain_related_is_its_registered_domain() -> None:
    assert related("domain", "mail.example.co.uk") == [("domain", "example.co.uk")]
    assert related("domain", "example.co.uk") == []


# --------------------------------------------------------------------------- IP and CIDR


def test_ip_addresses() -> None:
    assert normalise("ipv4", " 198.51.100[.]7 ") == "198.51.100.7"
    assert normalise("ipv6", "2001:DB8:0:0:0:0:0:1") == "2001:db8::1"
    assert normalise("ipv6", "[2001:db8::1]") == "2001:db8::1"
    assert related("ipv6", normalise("ipv6", "::FFFF:192.0.2.1")) == [("ipv4", "192.0.2.1")]
    assert "Leading zeros" in reason("ipv4", "010.0.0.1")  # octal or decimal? refuse to guess
    assert "Octet 256" in reason("ipv4", "256.1.1.1")
    assert "has a port" in reason("ipv4", "192.0.2.1:80")
    assert "type 'cidr'" in reason("ipv4", "192.0.2.0/24")
    assert "zone id" in reason("ipv6", "fe80::1%eth0")
    assert "not an IPv6 address" in reason("ipv6", "2001:db8::1::2")


def test_cidr() -> None:
    assert normalise("cidr", "192.0.2.0/24") == "192.0.2.0/24"
    assert normalise("cidr", "192.0.2.77/24") == "192.0.2.0/24"  # host bits are noise
    assert normalise("cidr", "2001:DB8::/32") == "2001:db8::/32"
    assert "no prefix length" in reason("cidr", "192.0.2.1")
    assert "too broad" in reason("cidr", "0.0.0.0/0")
    assert "too broad" in reason("cidr", "2000::/3")
    assert "not a network" in reason("cidr", "192.0.2.0/33")
    assert "not a number" in reason("cidr", "192.0.2.0/x")


# --------------------------------------------------------------------------- e-mail


def test_email_keeps_the_local_part_and_normalises_the_domain() -> None:
    assert normalise("email", "Alice.Smith@ÉXAMPLE.рф") == "Alice.Smith@xn--xample-9ua.xn--p1ai"
    assert normalise("email", "mailto:Pay@Example.COM?subject=x") == "Pay@example.com"
    assert normalise("email", "bob[at]example[.]org") == "bob@example.org"
    # case of the local part is the mail system's business, so two spellings stay two signals
    assert normalise("email", "Bob@example.org") != normalise("email", "bob@example.org")
    assert related("email", "x@mail.example.co.uk") == [
        ("domain", "mail.example.co.uk"),
        ("domain", "example.co.uk"),
    ]


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("alice.example.com", "needs an '@'"),
        ("alice@localhost", "should have a period"),
        ("alice@exa_mple.com", "not a valid e-mail address"),
        ("a..b@example.com", "two periods"),
        ("Alice <alice@example.com>", "not a valid e-mail address"),
    ],
)
def test_email_rejections_say_why(raw: str, why: str) -> None:
    assert why in reason("email", raw)


# --------------------------------------------------------------------------- phone


def test_phone_numbers_with_and_without_country_code() -> None:
    assert normalise("phone", "+1 650-253-0000") == "+16502530000"
    assert normalise("phone", "tel:+1-650-253-0000;ext=123") == "+16502530000"
    assert normalise("phone", "+44 (0)7911 123456") == "+447911123456"
    # without a country code, the node's region decides
    assert normalise("phone", "07911 123456", GB) == "+447911123456"
    assert normalise("phone", "01 42 68 53 00", NormaliseContext("FR")) == "+33142685300"
    assert normalise("phone", "0033 1 42 68 53 00", NormaliseContext("FR")) == "+33142685300"
    assert normalise("phone", "+33 1 42 68 53 00", GB) == "+33142685300"  # + wins over region
    assert "no default region" in reason("phone", "07911 123456")
    assert "not a number in use" in reason("phone", "+1 555 0100")
    assert "too short" in reason("phone", "12", GB)
    assert "does not look like a phone number" in reason("phone", "call me", GB)


# --------------------------------------------------------------------------- IBAN


def test_iban() -> None:
    assert normalise("iban", "de89 3704 0044 0532 0130 00") == "DE89370400440532013000"
    assert normalise("iban", "IBAN GB82 WEST 1234 5698 7654 32") == "GB82WEST12345698765432"
    assert normalise("iban", "FR14-2004-1010-0505-0001-3M02-606") == "FR1420041010050500013M02606"
    assert "checksum" in reason("iban", "DE89370400440532013001").lower()
    assert "country" in reason("iban", "XX89370400440532013000").lower()
    assert "length" in reason("iban", "DE8937040044053201300").lower()


# --------------------------------------------------------------------------- Bitcoin

# BIP-173 / BIP-350 test vectors (bitcoin/bips), mainnet only.
BIP_VALID = [
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
    (
        "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
        "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
    ),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
    ),
    ("BC1SW50QGDZ25J", "bc1sw50qgdz25j"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs"),
]
BIP_INVALID = [
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd", "must use bech32m"),
    ("BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL", "must use bech32m"),
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", "must use bech32, not bech32m"),
    ("bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4", "bech32 alphabet"),
    ("BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R", "witness version 17"),
    ("bc1pw5dgrnzv", "invalid length"),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",
        "invalid length",
    ),
    ("BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P", "20 or 32 bytes"),
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "checksum does not match"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du", "invalid length or padding"),
    ("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", "testnet"),
    ("Bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "mix upper and lower case"),
]


@pytest.mark.parametrize(("raw", "expected"), BIP_VALID)
def test_bech32_and_bech32m_addresses(raw: str, expected: str) -> None:
    assert normalise("btc", raw) == expected


@pytest.mark.parametrize(("raw", "why"), BIP_INVALID)
def test_bech32_rejections_follow_bip_173_and_350(raw: str, why: str) -> None:
    assert why in reason("btc", raw)


def test_base58_addresses() -> None:
    genesis = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
    assert normalise("btc", genesis) == genesis  # base58 is case-sensitive: kept as is
    p2sh = "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"
    assert normalise("btc", f"bitcoin:{p2sh}?amount=0.1&label=x") == p2sh  # BIP-21 URI
    assert "checksum does not match" in reason("btc", genesis[:-1] + "b")
    assert "checksum does not match" in reason("btc", "1a" + genesis[2:])  # case matters
    assert "never uses 0, O, I or l" in reason("btc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7Divf0a")
    assert "testnet" in reason("btc", "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn")
    litecoin_version = base58.b58encode_check(bytes([0x30]) + bytes(20)).decode()
    assert "version byte 0x30" in reason("btc", litecoin_version)


# --------------------------------------------------------------------------- Ethereum

# EIP-55's own test vectors.
EIP55 = [
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]


@pytest.mark.parametrize("address", EIP55)
def test_eip55_vectors_are_their_own_checksum(address: str) -> None:
    assert sig.eip55(address[2:]) == address
    # every casing of the same address is one signal
    assert normalise("eth", address.lower()) == address
    assert normalise("eth", "0x" + address[2:].upper()) == address


def test_eth_rejections() -> None:
    good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    assert normalise("eth", "ethereum:" + good + "@1/transfer?value=1") == good  # EIP-681
    assert normalise("eth", good.lower()) == good  # all lower case: no checksum, accepted
    wrong_case = good[:-1] + "D"
    assert "EIP-55 checksum" in reason("eth", wrong_case)
    assert "starts with 0x" in reason("eth", good[2:])  # 40 hex digits alone are a SHA-1
    assert "has 39 hex digits" in reason("eth", good[:-1])
    assert "'g' is not a hexadecimal digit" in reason("eth", good[:-1] + "g")


# --------------------------------------------------------------------------- hashes


def test_hashes() -> None:
    assert normalise("md5", "5D41402ABC4B2A76B9719D911017C592") == ("5d41402abc4b2a76b9719d911017c592")
    sha256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert normalise("sha256", "SHA-256:" + sha256.upper()) == sha256
    assert normalise("sha256", "sha256:" + sha256) == sha256
    assert reason("md5", "d41d8cd98f00b204e9800998ecf8427") == ("has 31 hex digits; an MD5 has exactly 32")
    assert "empty file" in reason("md5", "d41d8cd98f00b204e9800998ecf8427e")
    assert "placeholder" in reason("sha1", "0" * 40)
    assert "a SHA-1 has exactly 40" in reason("sha1", sha256)
    assert "'g' at position 3" in reason("md5", "d4g" + "0" * 29)
    # a prefix naming another algorithm is not silently dropped
    assert "not a hexadecimal digit" in reason("sha256", "md5:" + sha256)


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("5d41402abc4b2a76b9719d911017c592", "md5"),
        ("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d", "sha1"),
        ("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", "sha256"),
        ("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "eth"),
        ("0xdead.example.com", "domain"),  # a host whose name starts "0x" (found by Hypothesis)
        ("0x.a", "domain"),
        ("0x123", None),  # too short for an address, and no host either
        ("192.0.2.1", "ipv4"),
        ("2001:db8::1", "ipv6"),
        ("192.0.2.0/24", "cidr"),
        ("hxxp://example[.]com", "url"),
        ("example.com/login", "url"),
        ("example.com:8080", "url"),
        ("Alice@example.com", "email"),
        ("alice[at]example[.]com", "email"),
        ("example.com", "domain"),
        ("+1 650 253 0000", "phone"),
        ("07911 123456", "phone"),  # with the node's default region GB
        ("DE89370400440532013000", "iban"),
        ("GB82 WEST 1234 5698 7654 32", "iban"),
        ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "btc"),
        ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "btc"),
        ("hello", None),
        ("2130706433", None),
        ("", None),
    ],
)
def test_detect_type(raw: str, expected: str | None) -> None:
    assert detect_type(raw, GB) == expected


def test_a_batch_goes_on_and_reports_every_reject_with_its_ref() -> None:
    accepted, rejected = normalise_batch(
        [
            ("line 1", "url", "hxxp://Example[.]com"),
            ("line 2", "ipv4", "999.1.1.1"),
            ("line 3", None, "Example.COM"),
            ("line 4", None, "???"),
            ("indicator--42", "nope", "x"),
            ("line 6", "domain", "example.com"),
        ],
        GB,
    )
    assert [(a.ref, a.key) for a in accepted] == [
        ("line 1", ("url", "http://example.com/")),
        ("line 3", ("domain", "example.com")),
        ("line 6", ("domain", "example.com")),
    ]
    assert [(r.ref, r.type, r.raw) for r in rejected] == [
        ("line 2", "ipv4", "999.1.1.1"),
        ("line 4", None, "???"),
        ("indicator--42", "nope", "x"),
    ]
    assert "Octet 999" in rejected[0].reason
    assert rejected[1].reason == "cannot tell what kind of signal this is"
    assert "unknown signal type 'nope'" in rejected[2].reason


# --------------------------------------------------------------------------- properties

PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_ascii_label = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
_ldh_label = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_idn_label = st.text("abcxyzéüßждяλ", min_size=1, max_size=8)
_tld = st.sampled_from(["com", "org", "co.uk", "de", "рф", "xn--p1ai", "github.io"])


@st.composite
def domains(draw: st.DrawFn) -> str:
    labels = draw(st.lists(st.one_of(_ascii_label, _idn_label), min_size=1, max_size=3))
    name = ".".join([*labels, draw(_tld)])
    if draw(st.booleans()):
        name = name.upper()
    if draw(st.booleans()):
        name += "."
    if draw(st.booleans()):
        name = name.replace(".", "[.]")
    return name


_path_chars = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("éж€ \\"),
    max_size=30,
)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "hxxps", "ftp", "wss", ""]))
    host = draw(
        st.one_of(
            domains().map(lambda d: d.replace("[.]", ".")),
            st.ip_addresses(v=4).map(str),
            st.ip_addresses(v=6).map(lambda a: f"[{a.exploded.upper()}]"),
        )
    )
    user = draw(st.sampled_from(["", "user@", "user:pass@"]))
    port = draw(st.one_of(st.none(), st.integers(0, 65535)))
    netloc = f"{user}{host}" + ("" if port is None else f":{port}")
    prefix = f"{scheme}://" if scheme else ""
    if not scheme and user:
        prefix = "http://"
    return f"{prefix}{netloc}/{draw(_path_chars)}"


def _hexes(n: int) -> st.SearchStrategy[str]:
    return st.binary(min_size=n, max_size=n).map(bytes.hex)


def _digests(n: int) -> st.SearchStrategy[str]:
    """File digests of ``n`` bytes, never the empty file's or a placeholder (refused)."""
    algorithm = {16: "md5", 20: "sha1", 32: "sha256"}[n]
    return _hexes(n).filter(lambda h: not digests.degenerate(algorithm, h))


def _case(s: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(s, st.booleans()).map(lambda t: t[0].upper() if t[1] else t[0])


@st.composite
def btc_addresses(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        version = draw(st.sampled_from([0x00, 0x05]))
        return base58.b58encode_check(bytes([version]) + draw(st.binary(min_size=20, max_size=20))).decode()
    witver = draw(st.integers(0, 16))
    sizes = [20, 32] if witver == 0 else list(range(2, 41))
    program = draw(st.binary(min_size=1, max_size=40).filter(lambda b: len(b) in sizes))
    address = sig._segwit_encode("bc", witver, program)
    return address.upper() if draw(st.booleans()) else address


@st.composite
def eth_addresses(draw: st.DrawFn) -> str:
    digits = draw(_hexes(20))
    return draw(st.sampled_from([f"0x{digits}", f"0x{digits.upper()}", sig.eip55(digits)]))


@st.composite
def phones(draw: st.DrawFn) -> tuple[str, NormaliseContext]:
    region = draw(st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS)))
    number = phonenumbers.example_number(region)
    if number is None:
        number = phonenumbers.parse("+16502530000")
        region = "US"
    fmt = draw(
        st.sampled_from(
            [
                phonenumbers.PhoneNumberFormat.E164,
                phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                phonenumbers.PhoneNumberFormat.NATIONAL,
                phonenumbers.PhoneNumberFormat.RFC3966,
            ]
        )
    )
    return phonenumbers.format_number(number, fmt), NormaliseContext(region)


@st.composite
def ibans(draw: st.DrawFn) -> str:
    country = draw(st.sampled_from(["DE", "GB", "FR", "NL", "ES", "IT", "BE", "PL", "CH"]))
    iban = IBAN.random(country_code=country, random=draw(st.randoms()), use_registry=False)
    text = iban.formatted if draw(st.booleans()) else iban.compact
    return text.lower() if draw(st.booleans()) else text


@st.composite
def emails(draw: st.DrawFn) -> str:
    atoms = st.text("abcXYZ019+_-", min_size=1, max_size=8)
    local = ".".join(draw(st.lists(atoms, min_size=1, max_size=3)))
    # mail domains are strict LDH names: no leading or trailing hyphen in a label
    labels = draw(st.lists(st.one_of(_ldh_label, _idn_label), min_size=1, max_size=3))
    domain = ".".join([*labels, draw(_tld)])
    return f"{local}@{domain.upper() if draw(st.booleans()) else domain}"


@st.composite
def cidrs(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return f"{draw(st.ip_addresses(v=4))}/{draw(st.integers(8, 32))}"
    return f"{draw(st.ip_addresses(v=6)).exploded}/{draw(st.integers(16, 128))}"


GENERATED: dict[str, st.SearchStrategy[tuple[str, NormaliseContext]]] = {
    "url": urls().map(lambda u: (u, NONE)),
    "domain": domains().map(lambda d: (d, NONE)),
    "ipv4": st.ip_addresses(v=4).map(lambda a: (str(a), NONE)),
    "ipv6": st.ip_addresses(v=6).map(lambda a: (a.exploded.upper(), NONE)),
    "cidr": cidrs().map(lambda c: (c, NONE)),
    "email": emails().map(lambda e: (e, NONE)),
    "phone": phones(),
    "iban": ibans().map(lambda i: (i, NONE)),
    "btc": btc_addresses().map(lambda b: (b, NONE)),
    "eth": eth_addresses().map(lambda e: (e, NONE)),
    "md5": _case(_digests(16)).map(lambda h: (h, NONE)),
    "sha1": _case(_digests(20)).map(lambda h: (h, NONE)),
    "sha256": _case(_digests(32)).map(lambda h: (f"sha256:{h}", NONE)),
}


def test_every_type_has_a_generator() -> None:
    assert set(GENERATED) == set(SIGNAL_TYPES)


@pytest.mark.parametrize("name", sorted(GENERATED))
@PROPS
@given(data=st.data())
def test_normalise_is_idempotent_on_valid_input(name: str, data: st.DataObject) -> None:
    raw, ctx = data.draw(GENERATED[name])
    value = normalise(name, raw, ctx)
    assert normalise(name, value, ctx) == value
    assert normalise(name, value, NONE) == value  # the canonical form needs no region


_junk = st.lists(
    st.characters(codec="utf-8") | st.sampled_from(["[.]", "[at]", "hxxp", "://", "%2e", "\\"]),
    max_size=40,
).map("".join)


@pytest.mark.parametrize("name", sorted(SIGNAL_TYPES))
@PROPS
@given(raw=_junk)
def test_any_text_is_either_a_canonical_value_or_a_reasoned_rejection(name: str, raw: str) -> None:
    try:
        value = normalise(name, raw, GB)
    except InvalidInput as exc:
        assert exc.problems and exc.problems[0].message
        return
    assert normalise(name, value, GB) == value
    detect_type(raw, GB)  # never raises either

"""Linking by registered domain: the signals wing's section of the node policy. Pure.

URLs and domains under one registered domain (``example.co.uk`` for
``https://login.example.co.uk/x`` and ``www.example.co.uk``) are, with rare exceptions, run by one
registrant, so a node may link them into one campaign and answer a lookup of the domain with
the URLs under it (marked as related, with the reason). The registered domain comes from the
public suffix list bundled with ``tldextract`` (``types.registered_domain``), read with its
PRIVATE section, so ``alice.blogspot.com`` and ``bob.blogspot.com`` are two registered domains
already (likewise github.io, herokuapp.com, netlify.app, web.app, pages.dev, vercel.app,
azurewebsites.net, cloudfront.net, appspot.com, firebaseapp.com, wixsite.com...).

Some shared services are *not* in that section: every page of them has the same registered
domain though each belongs to someone else (``sites.google.com`` and ``docs.google.com`` are
``google.com``; ``*.weebly.com``, ``*.000webhostapp.com``, link shorteners). Linking by their
registered domain would merge unrelated campaigns, so ``registered_domain_exclusions`` lists
them; a registered domain on the list links nothing. The default list is a hand-picked set of
free hosting, file-sharing and link-shortening services that phishing reports commonly name
and that the bundled suffix list does not split (a test checks each entry against it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from hanoi.core import fields
from hanoi.core.errors import Problem

DEFAULT_EXCLUSIONS: tuple[str, ...] = (
    "google.com", "googleusercontent.com", "storage.googleapis.com", "forms.gle",
    "weebly.com", "weeblysite.com", "000webhostapp.com", "wordpress.com", "tumblr.com",
    "godaddysites.com", "sharepoint.com", "live.com", "1drv.ms", "dropbox.com", "ipfs.io",
    "bit.ly", "tinyurl.com", "t.co", "is.gd", "cutt.ly",
)


@dataclass(frozen=True)
class DomainLinkPolicy:
    """``link_registered_domains``: link URLs and domains by their registered domain (and
    answer a domain lookup with the URLs under it). ``registered_domain_exclusions``: the
    registered domains of shared services that must never link anything."""

    link_registered_domains: bool = True
    registered_domain_exclusions: tuple[str, ...] = DEFAULT_EXCLUSIONS

    KEYS: ClassVar[tuple[str, ...]] = ("link_registered_domains", "registered_domain_exclusions")
    DEFAULT_YAML: ClassVar[str] = (
        "# Signals: link URLs and domains under one registered domain (public suffix list, private\n"
        "# section included, so alice.blogspot.com and bob.blogspot.com stay apart) into one campaign,\n"
        "# and answer a domain lookup with the URLs under it (marked related).\n"
        "link_registered_domains: true\n\n"
        "# Registered domains of shared services that the suffix list does not split: never linked.\n"
        "registered_domain_exclusions: [" + ", ".join(DEFAULT_EXCLUSIONS) + "]\n")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], problems: list[Problem]) -> DomainLinkPolicy:
        w = "policy."
        on = fields.boolean(data, "link_registered_domains", w, problems, True)
        if "registered_domain_exclusions" in data:
            excluded = tuple(x.lower().strip(".") for x in
                             fields.text_list(data, "registered_domain_exclusions", w, problems))
        else:
            excluded = DEFAULT_EXCLUSIONS
        return cls(on, excluded)

    def to_dict(self) -> dict[str, Any]:
        return {"link_registered_domains": self.link_registered_domains,
                "registered_domain_exclusions": list(self.registered_domain_exclusions)}

    def links(self, registered: str | None) -> bool:
        """Whether signals under ``registered`` (a registered domain) are linked by it."""
        return (self.link_registered_domains and registered is not None
                and registered not in self.registered_domain_exclusions)


def reason(registered: str) -> str:
    return f"same registered domain {registered}"


__all__ = ["DEFAULT_EXCLUSIONS", "DomainLinkPolicy", "reason"]

"""Offline feed validators: Atom against RFC 4287's own schema, RSS against the RSS 2.0
specification's required elements.

No feed validator can be installed from PyPI or Debian (the W3C's is a web service), so
Atom is checked with RFC 4287 Appendix B (tests/data/schemas/atom-rfc4287.rnc, in the
XML syntax lxml reads beside it): RELAX NG for the structure, and the schema's
Schematron rules (the `s:rule` annotations, which RELAX NG itself ignores: "an
atom:feed must have an atom:author unless all of its atom:entry children have one")
evaluated here with XPath.
"""

from __future__ import annotations

import functools
from email.utils import parsedate_to_datetime
from pathlib import Path

from lxml import etree

SCHEMA = Path(__file__).parent / "data" / "schemas" / "atom-rfc4287.rng"
RNG = "http://relaxng.org/ns/structure/1.0"
SCHEMATRON = "http://www.ascc.net/xml/schematron"
ATOM = "http://www.w3.org/2005/Atom"


@functools.cache
def _schema() -> tuple[etree.RelaxNG, list[tuple[str, str, str]]]:
    grammar = etree.parse(str(SCHEMA))
    rules = [
        (rule.get("context"), check.get("test"), " ".join(check.text.split()))
        for rule in grammar.iter(f"{{{SCHEMATRON}}}rule")
        for check in rule.iter(f"{{{SCHEMATRON}}}assert")
    ]
    return etree.RelaxNG(grammar), rules


def atom_errors(document: bytes) -> list[str]:
    """Every way `document` breaks RFC 4287's schema; empty when it is valid."""
    relax_ng, rules = _schema()
    tree = etree.fromstring(document)
    errors = []
    if not relax_ng.validate(tree):
        errors += [f"line {e.line}: {e.message}" for e in relax_ng.error_log]
    namespaces = {"atom": ATOM}
    for context, test, message in rules:
        for node in tree.xpath(f"//{context}", namespaces=namespaces):
            if not node.xpath(f"boolean({test})", namespaces=namespaces):
                errors.append(f"line {node.sourceline}: {message}")
    return errors


def schematron_rule_count() -> int:
    return len(_schema()[1])


def rss_errors(document: bytes) -> list[str]:
    """What RSS 2.0 requires (rssboard.org/rss-specification): `<rss version="2.0">` with
    one channel having title, link and description; every item a title or a
    description; dates in RFC 822 form; a guid that is not a permalink says so."""
    root = etree.fromstring(document)
    errors = []
    if root.tag != "rss" or root.get("version") != "2.0":
        errors.append(f"the root is <{root.tag} version={root.get('version')!r}>, not RSS 2.0")
    channels = root.findall("channel")
    if len(channels) != 1:
        return [*errors, f"{len(channels)} <channel> elements, not one"]
    channel = channels[0]
    for name in ("title", "link", "description"):
        if not (channel.findtext(name) or "").strip():
            errors.append(f"the channel has no <{name}>")
    dates = [*channel.iterfind("lastBuildDate"), *channel.iterfind("pubDate")]
    for n, item in enumerate(channel.iterfind("item"), 1):
        if item.find("title") is None and item.find("description") is None:
            errors.append(f"item {n} has neither <title> nor <description>")
        dates += item.findall("pubDate")
        guid = item.find("guid")
        if (
            guid is not None
            and not guid.text.startswith("http")
            and guid.get("isPermaLink") != ("false")
        ):
            errors.append(f"item {n}: a guid that is no URL needs isPermaLink='false'")
    for date in dates:
        try:
            parsedate_to_datetime(date.text or "")
        except (TypeError, ValueError):
            errors.append(f"<{date.tag}> {date.text!r} is not an RFC 822 date")
    return errors

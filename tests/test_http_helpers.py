"""ticker/http/: the conditional-GET rule (RFC 9110, 13.1.2 and 13.1.3) and Asset, in
memory: no server, no Redis."""

from __future__ import annotations

import gzip
import hashlib
from datetime import UTC, datetime

import pytest
from starlette.requests import Request

from ticker.http import IMMUTABLE, Asset, not_modified
from ticker.http.asset import accepts_gzip

ETAG = '"abc123"'
CHANGED = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)
AT_CHANGE = "Sun, 01 Mar 2026 12:00:30 GMT"
BEFORE = "Sun, 01 Mar 2026 12:00:29 GMT"
AFTER = "Sun, 01 Mar 2026 12:00:31 GMT"


@pytest.mark.parametrize(
    "header",
    [
        '"abc123"',
        'W/"abc123"',  # weak comparison: a weak tag matches by its opaque part
        '"other", "abc123"',
        '"other","abc123"',
        '  "other" ,\t"abc123"  ',
        '"a,b", "abc123"',  # a comma inside a tag is part of it
        "*",
        " * ",
        '"other", *',
    ],
)
def test_if_none_match_that_names_the_current_tag_is_not_modified(header: str) -> None:
    assert not_modified({"if-none-match": header}, ETAG)


@pytest.mark.parametrize(
    "header",
    [
        "",
        '"abc12"',
        '"abc1234"',
        '"ABC123"',  # opaque tags compare byte for byte
        "abc123",  # not quoted: no entity tag
        'W/"other", "x"',
        '"abc,123"',
        '"a,b"',
    ],
)
def test_if_none_match_that_names_other_tags_is_modified(header: str) -> None:
    assert not not_modified({"if-none-match": header}, ETAG)


def test_a_weak_response_tag_matches_its_strong_and_weak_forms() -> None:
    assert not_modified({"if-none-match": '"abc123"'}, 'W/"abc123"')
    assert not_modified({"if-none-match": 'W/"abc123"'}, 'W/"abc123"')
    assert not not_modified({"if-none-match": '"other"'}, 'W/"abc123"')


def test_a_tag_with_a_comma_in_it_matches_whole() -> None:
    assert not_modified({"if-none-match": '"x", "a,b"'}, '"a,b"')
    assert not not_modified({"if-none-match": '"a", "b"'}, '"a,b"')


@pytest.mark.parametrize(
    ("since", "expected"),
    [(AT_CHANGE, True), (AFTER, True), (BEFORE, False)],
)
def test_if_modified_since_compares_to_the_second(since: str, expected: bool) -> None:
    assert not_modified({"if-modified-since": since}, ETAG, CHANGED) is expected


def test_if_modified_since_ignores_what_is_under_a_second() -> None:
    # Last-Modified carries whole seconds; 12:00:30.9 was sent as 12:00:30.
    changed = CHANGED.replace(microsecond=900_000)
    assert not_modified({"if-modified-since": AT_CHANGE}, ETAG, changed)


def test_if_modified_since_reads_every_http_date_form_and_zones() -> None:
    assert not_modified({"if-modified-since": "Sunday, 01-Mar-26 12:00:30 GMT"}, ETAG, CHANGED)
    assert not_modified({"if-modified-since": "Sun Mar  1 12:00:30 2026"}, ETAG, CHANGED)
    assert not_modified({"if-modified-since": "Sun, 01 Mar 2026 14:00:30 +0200"}, ETAG, CHANGED)
    assert not not_modified({"if-modified-since": "Sun, 01 Mar 2026 14:00:29 +0200"}, ETAG, CHANGED)


@pytest.mark.parametrize("since", ["yesterday", "", "Sun, 99 Foo 2026 12:00:30 GMT", "0"])
def test_an_if_modified_since_that_is_no_date_is_ignored(since: str) -> None:
    assert not not_modified({"if-modified-since": since}, ETAG, CHANGED)


def test_if_modified_since_without_a_modification_date_is_ignored() -> None:
    assert not not_modified({"if-modified-since": AFTER}, ETAG)


def test_if_none_match_wins_over_if_modified_since() -> None:
    # 13.1.3: with If-None-Match present, If-Modified-Since is not evaluated, either way.
    stale = {"if-none-match": '"other"', "if-modified-since": AFTER}
    assert not not_modified(stale, ETAG, CHANGED)
    fresh = {"if-none-match": ETAG, "if-modified-since": BEFORE}
    assert not_modified(fresh, ETAG, CHANGED)
    empty = {"if-none-match": "", "if-modified-since": AFTER}
    assert not not_modified(empty, ETAG, CHANGED)


def test_no_validators_is_modified() -> None:
    assert not not_modified({}, ETAG, CHANGED)


# Asset


def request(**headers: str) -> Request:
    raw = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw})


BODY = b"console.log('a');" * 20


def test_an_asset_is_named_by_its_hash_and_gzipped_reproducibly() -> None:
    asset = Asset.of(BODY, "text/javascript; charset=utf-8")
    assert asset.version == hashlib.sha256(BODY).hexdigest()[:16]
    assert asset.gzipped is not None and gzip.decompress(asset.gzipped) == BODY
    assert Asset.of(BODY, "text/javascript; charset=utf-8") == asset  # mtime=0: same bytes


def test_an_asset_answers_gzip_with_its_own_strong_etag() -> None:
    asset = Asset.of(BODY, "text/javascript; charset=utf-8")
    zipped = asset.response(request(accept_encoding="br, gzip"), cache_control="no-cache")
    assert zipped.status_code == 200 and zipped.body == asset.gzipped
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["etag"] == f'"{asset.version}-gzip"'
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.headers["cache-control"] == "no-cache"
    assert zipped.headers["content-type"] == "text/javascript; charset=utf-8"
    plain = asset.response(request(), cache_control="no-cache")
    assert plain.body == BODY and "content-encoding" not in plain.headers
    assert plain.headers["etag"] == f'"{asset.version}"'
    assert plain.headers["vary"] == "Accept-Encoding"


def test_an_asset_answers_304_to_the_etag_of_the_representation_asked_for() -> None:
    asset = Asset.of(BODY, "text/css; charset=utf-8")
    headers = {"X-Extra": "1"}
    same = asset.response(
        request(accept_encoding="gzip", if_none_match=f'"{asset.version}-gzip"'),
        cache_control=IMMUTABLE,
        headers=headers,
    )
    assert same.status_code == 304 and same.body == b""
    assert same.headers["etag"] == f'"{asset.version}-gzip"'
    assert same.headers["cache-control"] == IMMUTABLE and same.headers["x-extra"] == "1"
    # The plain bytes' tag does not name the gzipped ones.
    other = asset.response(
        request(accept_encoding="gzip", if_none_match=f'"{asset.version}"'), cache_control=""
    )
    assert other.status_code == 200 and other.body == asset.gzipped


def test_an_asset_without_a_gzipped_copy_is_sent_as_it_is() -> None:
    asset = Asset.of(BODY, "text/javascript; charset=utf-8", compress=False)
    assert asset.gzipped is None
    answer = asset.response(request(accept_encoding="gzip"), cache_control="no-cache")
    assert answer.body == BODY and "content-encoding" not in answer.headers
    assert "vary" not in answer.headers and answer.headers["etag"] == f'"{asset.version}"'
    again = asset.response(request(if_none_match=f'"{asset.version}"'), cache_control="no-cache")
    assert again.status_code == 304


def test_script_and_stylesheet_assets_are_minified_keeping_bang_comments() -> None:
    script = Asset.script("/*! licence */\n// note\nconst  a = 1 ;\n")
    assert script.body == b"/*! licence */const a=1;"
    assert script.media_type == "text/javascript; charset=utf-8"
    style = Asset.stylesheet("a {\n  color : red ;\n}\n")
    assert style.body == b"a{color:red}" and style.media_type == "text/css; charset=utf-8"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("br, gzip", True),
        ("GZIP", True),
        ("gzip;q=0.5", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip; q=0.0", False),
        ("identity", False),
        ("", False),
        ("br", False),
    ],
)
def test_accept_encoding(header: str, expected: bool) -> None:
    assert accepts_gzip(header) is expected

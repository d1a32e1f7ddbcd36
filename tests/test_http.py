"""Caching headers, conditional requests, HEAD, gzip and errors, against a real server process."""

from __future__ import annotations

import gzip
import hashlib

import pytest

from .server import ServerProcess

FEEDS = [
    ("/feed.xml", "application/rss+xml; charset=utf-8"),
    ("/atom.xml", "application/atom+xml; charset=utf-8"),
    ("/feed.json", "application/feed+json; charset=utf-8"),
    ("/tags/go/feed.xml", "application/rss+xml; charset=utf-8"),
    ("/tags/pub-sub/atom.xml", "application/atom+xml; charset=utf-8"),
    ("/tags/soc-2/feed.json", "application/feed+json; charset=utf-8"),
]


@pytest.mark.parametrize(("path", "media_type"), FEEDS)
def test_feed_headers(site: ServerProcess, path: str, media_type: str) -> None:
    reply = site.request(path)
    assert reply.status == 200
    assert reply.headers["content-type"] == media_type
    assert reply.headers["etag"] == '"' + hashlib.sha256(reply.body).hexdigest()[:32] + '"'
    assert reply.headers["last-modified"].endswith(" GMT")
    assert reply.headers["cache-control"] == "public, max-age=60"
    # Accept too: browsers get an HTML view of the same URL (issue 3, tests/test_browser_view.py).
    assert reply.headers["vary"] == "Accept, Accept-Encoding"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert int(reply.headers["content-length"]) == len(reply.body)


def test_if_none_match_answers_304_without_a_body(site: ServerProcess) -> None:
    etag = site.request("/atom.xml").headers["etag"]
    reply = site.request("/atom.xml", {"If-None-Match": etag})
    assert reply.status == 304
    assert reply.body == b""
    assert reply.headers["etag"] == etag
    assert site.request("/atom.xml", {"If-None-Match": '"something-else"'}).status == 200
    assert site.request("/atom.xml", {"If-None-Match": f'"x", W/{etag}'}).status == 304


def test_if_modified_since_answers_304_until_the_feed_changes(site: ServerProcess) -> None:
    last_modified = site.request("/tags/go/feed.xml").headers["last-modified"]
    assert site.request("/tags/go/feed.xml", {"If-Modified-Since": last_modified}).status == 304
    assert site.request("/tags/go/feed.xml", {"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}).status == 200


def test_if_none_match_wins_over_if_modified_since(site: ServerProcess) -> None:
    last_modified = site.request("/feed.xml").headers["last-modified"]
    reply = site.request("/feed.xml", {"If-None-Match": '"stale"', "If-Modified-Since": last_modified})
    assert reply.status == 200


def test_head_has_the_headers_and_no_body(site: ServerProcess) -> None:
    get = site.request("/feed.json")
    head = site.request("/feed.json", method="HEAD")
    assert head.status == 200
    assert head.body == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert head.headers["content-length"] == str(len(get.body))


def test_gzip_when_accepted(site: ServerProcess) -> None:
    plain = site.request("/feed.xml")
    zipped = site.request("/feed.xml", {"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert gzip.decompress(zipped.body) == plain.body
    assert len(zipped.body) < len(plain.body) / 2.5  # igzip level 3 (bench: ~6% larger than zlib level 6, 15× faster)
    assert zipped.headers["etag"] != plain.headers["etag"]
    assert site.request("/feed.xml", {"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["etag"]}).status == 304
    refused = site.request("/feed.xml", {"Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in refused.headers
    assert refused.body == plain.body


@pytest.mark.parametrize("path", ["/tags/no-such-tag/feed.xml", "/nope", "/tags/go/rss.xml", "/posts/x/feed.xml"])
def test_unknown_paths_are_a_short_plain_404(site: ServerProcess, path: str) -> None:
    reply = site.request(path)
    assert reply.status == 404
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"
    assert len(reply.body) < 200


@pytest.mark.parametrize(("query", "status"), [("page=abc", 400), ("page=0", 400), ("page=-1", 400), ("page=2", 404), ("page=1", 301)])
def test_page_queries(site: ServerProcess, query: str, status: int) -> None:
    assert site.request(f"/feed.xml?{query}").status == status


def test_wrong_method_is_405_with_allow(site: ServerProcess) -> None:
    reply = site.request("/feed.xml", method="POST")
    assert reply.status == 405
    assert "GET" in reply.headers["allow"]
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"


def test_html_pages_and_opml_are_cached_like_feeds(site: ServerProcess) -> None:
    for path, media_type in (("/", "text/html"), ("/tags/", "text/html"), ("/tags/go/", "text/html"), ("/feeds.opml", "text/x-opml")):
        reply = site.request(path)
        assert reply.status == 200
        assert reply.headers["content-type"].startswith(media_type)
        assert site.request(path, {"If-None-Match": reply.headers["etag"]}).status == 304


def test_healthz_reports_the_snapshot(site: ServerProcess) -> None:
    import json

    health = json.loads(site.request("/healthz").body)
    assert health["status"] == "ok"
    assert health["posts"] == 21  # published: 18 in the site's feeds and the podcast section's 3
    assert health["tags"] > 30
    assert health["version"] and health["last_scan"]


def test_redirects_name_site_url_whatever_host_the_request_came_to(site: ServerProcess) -> None:
    # Behind a proxy the app sees its inner address; a Location must still be the public one.
    for path, target in [("/tags/go", "/tags/go/"), ("/tags//go/feed.xml", "/tags/go/feed.xml"), ("/feed.xml?page=1", "/feed.xml")]:
        reply = site.request(path, headers={"Host": "internal.invalid:8000"})
        assert reply.status in (301, 308), path
        assert reply.headers["location"] == site.url(target), path

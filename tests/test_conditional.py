"""What feeds/web/conditional.py answers where werkzeug's make_conditional would answer otherwise (docs/conditional-requests.md)."""

from __future__ import annotations

import http.client

from .server import ServerProcess


def test_either_representations_etag_answers_304_with_the_etag_of_the_one_it_would_send(site: ServerProcess) -> None:
    plain = site.request("/feed.xml").headers["etag"]
    zipped = site.request("/feed.xml", {"Accept-Encoding": "gzip"}).headers["etag"]
    assert zipped == plain[:-1] + '-gz"'  # RFC 9110 §8.8.3: a distinct validator per representation

    reply = site.request("/feed.xml", {"If-None-Match": zipped})
    assert (reply.status, reply.headers["etag"], reply.body) == (304, plain, b"")
    reply = site.request("/feed.xml", {"If-None-Match": plain, "Accept-Encoding": "gzip"})
    assert (reply.status, reply.headers["etag"], reply.body) == (304, zipped, b"")


def test_if_match_is_not_evaluated(site: ServerProcess) -> None:
    full = site.request("/atom.xml")
    etag = full.headers["etag"]
    reply = site.request("/atom.xml", {"If-Match": '"other"'})
    assert (reply.status, reply.body) == (200, full.body)
    assert site.request("/atom.xml", {"If-Match": etag, "If-None-Match": etag}).status == 304


def test_the_server_writes_the_one_date_header_also_on_replayed_answers(site: ServerProcess) -> None:
    # The second identical request is answered by the replay cache (feeds/web/fastpath.py): an app-made
    # Date would be replayed as it was, next to or instead of the server's own.
    for headers in ({}, {}, {"If-None-Match": site.request("/feed.json").headers["etag"]}):
        connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=10)
        try:
            connection.request("GET", "/feed.json", headers=headers)
            response = connection.getresponse()
            response.read()
            dates = [value for name, value in response.getheaders() if name.lower() == "date"]
        finally:
            connection.close()
        assert len(dates) == 1, dates

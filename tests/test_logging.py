"""One log line per event (key=value or JSON): start-up, rebuilds, content problems; none per request."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask


@pytest.fixture
def lines(capsys: pytest.CaptureFixture[str]) -> Callable[[], list[str]]:
    """What the ``feeds`` logger wrote to stderr so far (create_app points it at the captured stream)."""
    seen: list[str] = []

    def read() -> list[str]:
        seen.extend(capsys.readouterr().err.splitlines())
        return list(seen)

    return read


def _edit(content: Path) -> None:
    post = next(content.glob("2026-05-02-*.md"))
    post.write_text(post.read_text().replace("Three Layers of Idempotency", "Three Layers of Idempotency, Revisited"))


def test_start_up_logs_the_settings_without_secrets(make_app: Callable[..., Flask], lines: Callable[[], list[str]]) -> None:
    make_app(rebuild_token="s3cret-token", websub_hubs=["https://hub.example/"])
    start = next(line for line in lines() if " event=start " in line)
    assert "rebuild_token=set" in start
    assert "s3cret-token" not in "\n".join(lines())
    assert "items_per_feed=20" in start and "websub_hubs=https://hub.example" in start


def test_a_rebuild_is_one_line_with_files_duration_and_feeds_changed(
    make_app: Callable[..., Flask], content: Path, lines: Callable[[], list[str]]
) -> None:
    app = make_app()
    _edit(content)
    assert app.extensions["feeds"].builder.rescan()
    rebuild = [line for line in lines() if " event=rebuild " in line][-1]
    fields = dict(part.split("=", 1) for part in rebuild.split(" ") if "=" in part)
    assert fields["files_changed"] == "1"
    assert fields["changed"] == "2026-05-02-three-layers-of-idempotency.md"
    assert float(fields["seconds"]) > 0
    assert int(fields["feeds_changed"]) >= 2 and int(fields["bodies_changed"]) >= int(fields["feeds_changed"])
    assert "\n" not in rebuild


def test_each_content_problem_is_its_own_line(make_app: Callable[..., Flask], content: Path, lines: Callable[[], list[str]]) -> None:
    (content / "2026-06-03-broken.md").write_text("---\ntitle: [oops\n---\nbody\n")
    (content / "2026-06-04-untitled.md").write_text("---\ndate: 2026-06-04\n---\nbody\n")
    make_app()
    problems = [line for line in lines() if " event=content_problem " in line]
    assert len(problems) == 2
    assert any("2026-06-03-broken.md:2:" in line for line in problems)


def test_requests_log_nothing(app: Flask, lines: Callable[[], list[str]]) -> None:
    client = app.test_client()
    before = len(lines())
    for path in ("/feed.xml", "/atom.xml", "/tags/go/feed.json", "/healthz", "/metrics", "/nope"):
        client.get(path)
    assert lines()[before:] == []


def test_json_lines_carry_the_same_fields(make_app: Callable[..., Flask], content: Path, lines: Callable[[], list[str]]) -> None:
    app = make_app(log_format="json")
    _edit(content)
    app.extensions["feeds"].builder.rescan()
    events = [json.loads(line) for line in lines()]
    rebuild = [e for e in events if e["event"] == "rebuild"][-1]
    assert rebuild["level"] == "info" and rebuild["files_changed"] == 1 and "pid" in rebuild and "ts" in rebuild

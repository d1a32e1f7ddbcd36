"""The media folder served through the production server (granian with deploy/feeds.service's flags), tried with curl.

Byte ranges as RFC 9110 §14 has them and podcast apps use them: one range (Apple's check asks
for ``bytes=0-1``), a resumed download (``curl -C -``), several ranges as
``multipart/byteranges``, ``416`` past the end, ``If-Range`` with the ETag or the date, and
the conditionals before them (§13.2.2).
"""

from __future__ import annotations

import email.parser
import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT, SAMPLE, SITE_CONFIG
from .production import unit_argv
from .server import ServerProcess

EPISODE = SAMPLE / "media" / "episode-1.mp3"
DATA_BYTES = EPISODE.read_bytes()
CURL = shutil.which("curl")
pytestmark = pytest.mark.skipif(CURL is None, reason="curl is not installed (make test installs it)")


class Production(ServerProcess):
    """``granian … wsgi:app`` from the checkout, with the systemd unit's flags."""

    def __init__(self, content: Path, config: Path) -> None:
        self._spawn("granian", content.parent, {"FEEDS_CONFIG": str(config), "FEEDS_CONTENT_DIR": str(content)}, None)
        self._run(unit_argv(2, self.port), ROOT)
        self._wait_ready()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Production]:
    root = tmp_path_factory.mktemp("media")
    shutil.copytree(SAMPLE, root / "content")
    (root / "feeds.toml").write_text(SITE_CONFIG, encoding="utf-8")
    with Production(root / "content", root / "feeds.toml") as process:
        yield process


def curl(server: Production, *args: str, path: str = "/media/episode-1.mp3") -> tuple[int, dict[str, str], bytes]:
    """Run curl against ``path``; return the status, the headers (lower-case names) and the body."""
    assert CURL is not None
    dump = [] if "-I" in args else ["-D", "-"]  # -I prints the headers itself
    result = subprocess.run([CURL, "-sS", *dump, *args, server.url(path)], capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_unit_flags_are_the_production_command() -> None:
    argv = unit_argv(2, 1234)
    assert argv[:4] == ["-m", "feeds.web.preload", "--interface", "wsgi"] and argv[-1] == "wsgi:app"
    assert "--respawn-failed-workers" in argv and "--blocking-threads" in argv
    assert argv[argv.index("--port") + 1] == "1234" and argv[argv.index("--workers") + 1] == "2"


def test_whole_file_with_accept_ranges_type_length_and_strong_etag(server: Production) -> None:
    status, headers, body = curl(server)
    assert status == 200 and body == DATA_BYTES
    assert headers["accept-ranges"] == "bytes" and headers["content-type"] == "audio/mpeg"
    assert headers["content-length"] == str(len(DATA_BYTES))
    assert headers["etag"] == '"' + hashlib.sha256(DATA_BYTES).hexdigest()[:32] + '"'  # equal on every host with these bytes
    assert "last-modified" in headers and headers["cache-control"].startswith("public")
    status, headers, body = curl(server, "-I")
    assert status == 200 and body == b"" and headers["content-length"] == str(len(DATA_BYTES)) and headers["accept-ranges"] == "bytes"


def test_one_range_is_a_206_with_content_range(server: Production) -> None:
    status, headers, body = curl(server, "-r", "0-1")  # what Apple's feed check asks for
    assert (status, body) == (206, DATA_BYTES[:2])
    assert headers["content-range"] == f"bytes 0-1/{len(DATA_BYTES)}" and headers["content-length"] == "2"
    status, headers, body = curl(server, "-r", "9000-")
    assert (status, body) == (206, DATA_BYTES[9000:]) and headers["content-range"] == f"bytes 9000-{len(DATA_BYTES) - 1}/{len(DATA_BYTES)}"
    status, headers, body = curl(server, "-r", "-100")
    assert (status, body) == (206, DATA_BYTES[-100:])
    status, headers, body = curl(server, "-r", "9900-99999")  # a last byte past the end is cut to the end
    assert (status, body) == (206, DATA_BYTES[9900:])


def test_a_resumed_download_equals_the_file(server: Production, tmp_path: Path) -> None:
    partial = tmp_path / "episode.mp3"
    partial.write_bytes(DATA_BYTES[:5000])
    assert CURL is not None
    subprocess.run([CURL, "-sS", "-f", "-C", "-", "-o", str(partial), server.url("/media/episode-1.mp3")], check=True, timeout=30)
    assert partial.read_bytes() == DATA_BYTES


def test_several_ranges_are_a_multipart_byteranges_body(server: Production) -> None:
    status, headers, body = curl(server, "-r", "0-9,100-109,-5")
    assert status == 206 and headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert int(headers["content-length"]) == len(body)
    message = email.parser.BytesParser().parsebytes(b"Content-Type: " + headers["content-type"].encode() + b"\r\n\r\n" + body)
    parts = [(part["Content-Type"], part["Content-Range"], part.get_payload(decode=True)) for part in message.get_payload()]
    total = len(DATA_BYTES)
    assert parts == [
        ("audio/mpeg", f"bytes 0-9/{total}", DATA_BYTES[:10]),
        ("audio/mpeg", f"bytes 100-109/{total}", DATA_BYTES[100:110]),
        ("audio/mpeg", f"bytes {total - 5}-{total - 1}/{total}", DATA_BYTES[-5:]),
    ]
    # Overlapping and adjacent ranges are merged (§15.3.7.2): one part, so no multipart body.
    status, headers, body = curl(server, "-r", "0-99,50-149,150-199")
    assert (status, body, headers["content-range"]) == (206, DATA_BYTES[:200], f"bytes 0-199/{total}")


def test_unsatisfiable_ranges_are_a_416_with_the_length(server: Production) -> None:
    status, headers, _ = curl(server, "-r", f"{len(DATA_BYTES)}-")
    assert status == 416 and headers["content-range"] == f"bytes */{len(DATA_BYTES)}"


def test_ranges_to_ignore_get_the_whole_file(server: Production) -> None:
    many = ",".join(f"{n * 10}-{n * 10 + 1}" for n in range(17))  # more than limits.MAX_RANGES: a 200, as §14.2 allows
    for header in ("Range: bytes=5-1", "Range: items=0-1", "Range: bytes=abc", f"Range: bytes={many}"):
        status, headers, body = curl(server, "-H", header)
        assert (status, body) == (200, DATA_BYTES), header
    status, headers, body = curl(server, "-I", "-H", "Range: bytes=0-1")  # ranges are for GET only
    assert status == 200 and headers["content-length"] == str(len(DATA_BYTES))


def test_if_range_sends_the_part_only_for_the_same_version(server: Production) -> None:
    _, headers, _ = curl(server, "-I")
    etag, modified = headers["etag"], headers["last-modified"]
    assert curl(server, "-r", "0-9", "-H", f"If-Range: {etag}")[0] == 206
    assert curl(server, "-r", "0-9", "-H", f"If-Range: {modified}")[0] == 206
    for stale in ('"0123456789abcdef0123456789abcdef"', "W/" + etag, "Mon, 01 Jan 2024 00:00:00 GMT"):
        status, _, body = curl(server, "-r", "0-9", "-H", f"If-Range: {stale}")
        assert (status, body) == (200, DATA_BYTES), stale


def test_conditionals_come_before_the_range(server: Production) -> None:
    _, headers, _ = curl(server, "-I")
    etag, modified = headers["etag"], headers["last-modified"]
    assert curl(server, "-r", "0-9", "-H", f"If-None-Match: {etag}")[0] == 304
    assert curl(server, "-H", f"If-Modified-Since: {modified}")[0] == 304
    assert curl(server, "-r", "0-9", "-H", f"If-Match: {etag}")[0] == 206
    assert curl(server, "-r", "0-9", "-H", 'If-Match: "other"')[0] == 412
    assert curl(server, "-H", "If-Unmodified-Since: Mon, 01 Jan 2024 00:00:00 GMT")[0] == 412


def test_media_types_of_transcripts_chapters_and_artwork(server: Production) -> None:
    expected = {
        "/media/episode-1.vtt": "text/vtt; charset=utf-8",
        "/media/episode-2.srt": "application/x-subrip",
        "/media/episode-1.txt": "text/plain; charset=utf-8",
        "/media/episode-1.chapters.json": "application/json+chapters",
        "/media/cover.png": "image/png",
    }
    for path, media_type in expected.items():
        status, headers, body = curl(server, path=path)
        assert (status, headers["content-type"]) == (200, media_type), path
        assert body == (SAMPLE / path.lstrip("/")).read_bytes()
        assert "sandbox" in headers["content-security-policy"]  # an author's HTML or SVG runs no script on the site


def test_what_the_snapshot_does_not_list_is_a_404(server: Production) -> None:
    for path in ("/media/nothing.mp3", "/media/../feeds.toml", "/media/", "/media/%2e%2e/feeds.toml"):
        assert curl(server, path=path)[0] == 404, path

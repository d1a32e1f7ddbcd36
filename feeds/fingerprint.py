"""What a snapshot's bytes depend on besides the content: this code and the settings.

Both digests are taken once per process, at start-up, so a deploy that replaces
the files under a running worker does not change what that worker believes it runs.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from feeds import __version__
from feeds.config import Config

#: Libraries whose version can change the bytes of a feed, a page or its gzip copy.
_LIBRARIES = ("feedgen", "lxml", "Jinja2", "MarkupSafe", "comrak", "nh3", "isal")
#: Settings that change no byte of a snapshot.
RUNTIME_ONLY = frozenset(
    {"scan_interval", "log_format", "snapshot_dir", "worker_header", "rebuild_token", "cache_dir", "webhook_secret", "git_timeout"}
    | {"poll_limit", "poll_window", "trusted_proxies", "memory_cache_mb"}
    | {"redirects"}  # answered by the service, the export's map and the bucket; checked against the plan, in no body
    | {"publish_url", "publish_endpoint", "publish_region", "publish_purge_command", "publish_purge_url", "publish_on_rebuild"}
    | {"database_url", "stats", "stats_token", "stats_retention", "stats_flush_interval"}
    | {"fediverse_name", "fediverse_allowed_private", "fediverse_blocked_domains"}
)


@lru_cache(maxsize=1)
def code_digest() -> str:
    """Hash this package's code and templates and the versions of the libraries that shape the output."""
    root = Path(__file__).parent
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".py", ".html", ".opml", ".css")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    for name in _LIBRARIES:
        try:
            digest.update(f"{name}={metadata.version(name)}\n".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name}=-\n".encode())
    return digest.hexdigest()[:16]


def settings_digest(config: Config) -> str:
    """Hash the settings that shape a snapshot's bytes (secrets never take part)."""
    values = {key: value for key, value in config.summary().items() if key not in RUNTIME_ONLY}
    values.pop("content_dir", None)  # where the posts are read from changes no byte
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]

"""Tell a CDN which URLs changed: a command or an HTTP hook, retried, never fatal."""

from __future__ import annotations

import json
import shlex
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from feeds.service.publish.plan import DEFAULT_RETRY, Retry


@dataclass(frozen=True)
class PurgeResult:
    ok: bool
    #: URLs handed to the purge.
    urls: int
    #: What failed (an exit status, an HTTP status), None when ``ok``.
    error: str | None = None


def purge(
    urls: Sequence[str], *, command: str | None = None, hook_url: str | None = None, timeout: float = 60.0, retry: Retry = DEFAULT_RETRY
) -> PurgeResult:
    """Tell a CDN to drop ``urls``: run ``command`` (URLs on stdin, one a line) and/or POST ``{"urls": [...]}`` to ``hook_url``.

    Each is retried with backoff; a failure is reported in the result, never raised.
    """
    errors = []
    if command:
        errors.append(_retrying(retry, lambda: _run_purge_command(command, urls, timeout)))
    if hook_url:
        errors.append(_retrying(retry, lambda: _post_purge_hook(hook_url, urls, timeout)))
    failed = [error for error in errors if error]
    return PurgeResult(ok=not failed, urls=len(urls), error="; ".join(failed) or None)


def _retrying(retry: Retry, attempt: Callable[[], tuple[str | None, bool]]) -> str | None:
    """Run ``attempt`` (returning an error or None, and whether a retry may help) up to ``retry.attempts`` times."""
    error: str | None = None
    for number in range(1, retry.attempts + 1):
        error, again = attempt()
        if error is None or not again:
            return error
        if number < retry.attempts:
            time.sleep(retry.wait(number))
    return error


def _run_purge_command(command: str, urls: Sequence[str], timeout: float) -> tuple[str | None, bool]:
    argv = shlex.split(command)
    try:
        done = subprocess.run(argv, input="".join(url + "\n" for url in urls).encode(), capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"{argv[0]}: no exit after {timeout:g} s", True
    except OSError as e:
        return f"{argv[0]}: {e.strerror or e}", False
    if done.returncode != 0:
        return f"{argv[0]} exited {done.returncode}: {done.stderr.decode(errors='replace').strip()[-200:]}", True
    return None, False


def _post_purge_hook(url: str, urls: Sequence[str], timeout: float) -> tuple[str | None, bool]:
    body = json.dumps({"urls": list(urls)}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(65536)
            return None, False
    except urllib.error.HTTPError as e:
        return f"{urlsplit(url).netloc} answered HTTP {e.code}", e.code >= 500 or e.code in (408, 429)
    except (urllib.error.URLError, OSError) as e:
        return f"{urlsplit(url).netloc}: {getattr(e, 'reason', e)}", True

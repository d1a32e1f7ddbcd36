"""HTTP probes for ``python -m bench prod``: one request at a time, a tally of every answer, feed links, a crawl, the log.

Nothing here builds a URL of the service except the fixed entry points (``/feed.xml``, the
OPML lists, ``/``, ``/tags/``): every other address is read from what the service answers
(OPML ``xmlUrl``/``htmlUrl``, RFC 5005 ``rel="next"`` links, JSON Feed ``next_url``), so the
probes keep working when the page URL scheme changes.
"""

from __future__ import annotations

import collections
import gzip
import http.client
import json
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ATOM = "{http://www.w3.org/2005/Atom}"
GZIP = {"Accept-Encoding": "gzip"}
REQUEST_TIMEOUT = 10.0  # seconds; a longer wait is counted as a "timeout" error


@dataclass(frozen=True)
class Answer:
    #: HTTP status, or 0 when the request failed (see ``error``).
    status: int
    #: Header names in lower case.
    headers: dict[str, str]
    #: The body as sent (still gzipped when ``content-encoding`` says so).
    body: bytes
    #: ``time.monotonic()`` when the request was sent and when the answer was read.
    sent: float
    done: float
    #: ``refused``, ``reset``, ``timeout`` or another short reason when ``status`` is 0.
    error: str = ""

    @property
    def worker(self) -> int | None:
        pid = self.headers.get("x-feeds-worker")
        return int(pid) if pid and pid.isdigit() else None

    def text(self) -> bytes:
        """The body, gunzipped if it was sent gzipped."""
        if self.headers.get("content-encoding") == "gzip":
            return gzip.decompress(self.body)
        return self.body


@dataclass
class Tally:
    """Every answer of one server start, by phase: statuses, errors, which worker answered 200 when."""

    #: ``time.monotonic()`` before the server process was spawned.
    t0: float
    #: The first 200 on any request, as seconds from t0 (set by whoever sees it first).
    first_200: float | None = None
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    #: Worker pid → seconds from t0 of its first 200.
    workers: dict[int, float] = field(default_factory=dict)
    #: Every worker pid seen in any answer (more than the worker count means workers were replaced).
    pids: set[int] = field(default_factory=set)
    #: Seconds from t0 of the first and the last 5xx answer.
    first_5xx: float | None = None
    last_5xx: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, answer: Answer) -> None:
        with self._lock:
            after = self.first_200 is not None
            key = str(answer.status) if answer.status else answer.error
            self.statuses[("after_first_200:" if after else "before_first_200:") + key] += 1
            if answer.worker is not None:
                self.pids.add(answer.worker)
            if answer.status >= 500:
                self.last_5xx = answer.done - self.t0
                if self.first_5xx is None:
                    self.first_5xx = self.last_5xx
            if answer.status == 200:
                at = answer.done - self.t0
                if self.first_200 is None:
                    self.first_200 = at
                if answer.worker is not None and answer.worker not in self.workers:
                    self.workers[answer.worker] = at

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {
                "statuses": dict(sorted(self.statuses.items())),
                "pids_seen": sorted(self.pids),
                "first_5xx": self.first_5xx,
                "last_5xx": self.last_5xx,
            }


class Client:
    """Requests to one server on 127.0.0.1, each on a new connection (so any worker may answer)."""

    def __init__(self, port: int, site_url: str, tally: Tally | None = None) -> None:
        self.port, self.site_url, self.tally = port, site_url.rstrip("/"), tally

    def path(self, url: str) -> str:
        """The path and query of an absolute link the service wrote (it writes them against site_url)."""
        if url.startswith(self.site_url):
            return url[len(self.site_url) :] or "/"
        parts = urlsplit(url)
        if parts.scheme or parts.netloc:
            raise ValueError(f"link outside the site: {url}")
        return url

    def get(self, path: str, headers: dict[str, str] | None = None, method: str = "GET", timeout: float = REQUEST_TIMEOUT) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        sent = time.monotonic()
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            answer = Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read(), sent, time.monotonic())
        except ConnectionRefusedError:
            answer = Answer(0, {}, b"", sent, time.monotonic(), "refused")
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
            answer = Answer(0, {}, b"", sent, time.monotonic(), "reset")
        except TimeoutError:
            answer = Answer(0, {}, b"", sent, time.monotonic(), "timeout")
        except (OSError, http.client.HTTPException) as e:
            answer = Answer(0, {}, b"", sent, time.monotonic(), type(e).__name__)
        finally:
            connection.close()
        if self.tally is not None:
            self.tally.add(answer)
        return answer

    def until_200(self, path: str, deadline: float, headers: dict[str, str] | None = None, pause: float = 0.02) -> Answer | None:
        """Ask for ``path`` again and again (``pause`` apart) until it answers 200 or ``deadline`` (monotonic) passes."""
        while True:
            answer = self.get(path, headers)
            if answer.status == 200:
                return answer
            if time.monotonic() + pause >= deadline:
                return None
            time.sleep(pause)


# --- what the documents link to ---------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """One feed scope from the OPML lists: the site or a tag."""

    #: The outline's ``text`` (``Bench``, ``Bench: Go``).
    name: str
    #: Page 1 of the scope's feed in each format (``rss``, ``atom``, ``json``), as paths.
    feeds: dict[str, str]
    #: The scope's HTML page, as a path.
    html: str


def opml_outlines(body: bytes) -> list[dict[str, str]]:
    root = ET.fromstring(body)
    return [dict(o.attrib) for o in root.iter("outline") if "xmlUrl" in o.attrib]


def discover(client: Client, deadline: float) -> list[Scope]:
    """Read the three OPML lists into scopes (retrying each until it answers 200 or ``deadline``)."""
    formats = {"rss": "/feeds.opml", "atom": "/feeds-atom.opml", "json": "/feeds-json.opml"}
    scopes: dict[str, Scope] = {}
    for fmt, opml in formats.items():
        answer = client.until_200(opml, deadline, GZIP)
        if answer is None:
            raise TimeoutError(f"{opml} never answered 200")
        for outline in opml_outlines(answer.text()):
            name = outline.get("text", outline["xmlUrl"])
            scope = scopes.setdefault(name, Scope(name, {}, client.path(outline.get("htmlUrl", "/"))))
            scope.feeds[fmt] = client.path(outline["xmlUrl"])
    return list(scopes.values())


def next_link(answer: Answer) -> str | None:
    """The link to a feed's older posts (RFC 5005 ``prev-archive``, or ``next`` of paged feeds; JSON Feed ``next_url``), or None."""
    body = answer.text()
    kind = answer.headers.get("content-type", "")
    if "json" in kind:
        url = json.loads(body).get("next_url")
        return str(url) if url else None
    root = ET.fromstring(body)
    container = root.find("channel") if root.tag == "rss" else root
    if container is None:
        return None
    for link in container.findall(f"{ATOM}link"):
        if link.get("rel") in ("prev-archive", "next"):
            return link.get("href")
    return None


# --- the crawl ------------------------------------------------------------------------------------


@dataclass
class Crawl:
    #: Every document fetched, as paths, in the order found.
    documents: list[str] = field(default_factory=list)
    #: Scope name and format → the paths of its feed pages, page 1 first.
    chains: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    bytes_plain: int = 0
    bytes_gzip: int = 0
    gzip_answers: int = 0
    #: Path and status of every answer that was not a 200.
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds_plain: float = 0.0
    seconds_gzip: float = 0.0
    #: Path → body of the documents ``keep`` asked to remember.
    kept: dict[str, bytes] = field(default_factory=dict)


def crawl(
    client: Client, scopes: list[Scope], deadline: float, threads: int = 4, keep: Callable[[str, bytes], bool] | None = None
) -> Crawl:
    """Fetch every document reachable (HTML pages, OPML, every feed page via ``next``), plain, then all again with gzip."""
    result = Crawl()
    lock = threading.Lock()
    singles = ["/", "/tags/", "/feeds.opml", "/feeds-atom.opml", "/feeds-json.opml"]
    singles += [s.html for s in scopes if s.html not in singles]

    def fetch(path: str, headers: dict[str, str] | None) -> Answer:
        answer = client.get(path, headers)
        with lock:
            if answer.status != 200:
                result.failures.append((path, str(answer.status or answer.error)))
            elif headers:
                result.bytes_gzip += len(answer.body)
                result.gzip_answers += answer.headers.get("content-encoding") == "gzip"
            else:
                result.bytes_plain += len(answer.body)
        return answer

    def chain(name: str, fmt: str, first: str) -> list[str]:
        pages, path = [], first
        seen: set[str] = set()
        while path and path not in seen and time.monotonic() < deadline:
            seen.add(path)
            pages.append(path)
            answer = fetch(path, None)
            if answer.status != 200:
                break
            if keep is not None and keep(path, answer.body):
                with lock:
                    result.kept[path] = answer.body
            found = next_link(answer)
            path = client.path(found) if found else ""
        return pages

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda p: fetch(p, None), singles))
        jobs = {(s.name, fmt): pool.submit(chain, s.name, fmt, url) for s in scopes for fmt, url in s.feeds.items()}
        result.chains = {key: job.result() for key, job in jobs.items()}
    result.documents = singles + [p for pages in result.chains.values() for p in pages]
    result.seconds_plain = time.monotonic() - started
    if time.monotonic() >= deadline:
        raise TimeoutError("the crawl ran past its deadline")
    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda p: fetch(p, GZIP), result.documents))
    result.seconds_gzip = time.monotonic() - started
    return result


def spread(
    client: Client,
    path: str,
    on_answer: Callable[[Answer], None],
    until: Callable[[], bool],
    deadline: float,
    threads: int = 4,
    pause: float = 0.01,
) -> int:
    """Ask for ``path`` from ``threads`` threads at once, each on fresh connections, until ``until()`` or ``deadline``.

    Concurrent requests are what reaches every worker: an idle server hands a lone
    request to whichever worker wakes first, often the same one. Returns the number of requests.
    """
    sent = [0] * threads

    def loop(i: int) -> None:
        while not until() and time.monotonic() < deadline:
            on_answer(client.get(path, GZIP))
            sent[i] += 1
            time.sleep(pause)

    workers = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(max(0.0, deadline - time.monotonic()) + REQUEST_TIMEOUT + 1)
    return sum(sent)


def events(log: Path, names: Iterable[str] | None = None, offset: int = 0) -> list[dict[str, object]]:
    """The service's JSON log events in ``log`` from byte ``offset`` on (other lines are the server's own)."""
    wanted = set(names) if names is not None else None
    found = []
    with log.open("rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if wanted is None or event.get("event") in wanted:
            found.append(event)
    return found


def wall(ts: object) -> float:
    """An event's ``ts`` (ISO 8601 with offset) as a ``time.time()`` value."""
    from datetime import datetime

    return datetime.fromisoformat(str(ts)).timestamp()


# gunicorn: "WORKER TIMEOUT (pid:N)", "Worker (pid:N) was sent SIGKILL!", "Worker (pid:N) exited with code 1";
# granian: "Unexpected exit from worker-N", "Respawning worker-N", "Worker crash loop detected", "Killing worker-N".
SERVER_TROUBLE = re.compile(r"WORKER TIMEOUT|was sent SIG|exited with code|Unexpected exit|Respawning|crash loop|Killing", re.I)
WORKER_BOOT = re.compile(r"Booting worker with pid|Spawning worker-\d+")


def server_trouble(log: Path) -> dict[str, object]:
    """Worker timeouts, kills and respawns the server logged, and how many workers it booted (read before stopping it)."""
    text = log.read_text(errors="replace")
    lines = [line for line in text.splitlines() if not line.startswith("{")]
    return {
        "worker_timeouts": sum("WORKER TIMEOUT" in line for line in lines),
        "worker_boots": sum(bool(WORKER_BOOT.search(line)) for line in lines),
        "trouble": [line[:200] for line in lines if SERVER_TROUBLE.search(line)][:20],
    }

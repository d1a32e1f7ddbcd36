"""Fediverse benchmark: one new post delivered to 10,000 followers on 2,000 hosts, and the inbox under 100 signed Follows/s.

Run by hand, never in ``make test`` (needs ``make test``'s .venv)::

    .venv/bin/python -m bench fediverse                      # both parts, ~2 min
    .venv/bin/python -m bench fediverse deliver --followers 10000 --hosts 2000
    .venv/bin/python -m bench fediverse follows --rate 100 --seconds 20

Everything runs on 127.0.0.1: the production server (granian, ``--workers 2``, the
unit's flags but the worker count) with ``fediverse = true`` and a SQLite database, and
an **inbox farm**: one asyncio process listening on ``--hosts`` loopback addresses
(127.0.x.y, one port), each address a remote host, answering every POST 202 and
recording when it arrived.

1. **deliver**: the followers are written into the database (5 per host; with
   ``sharedInbox``, as Mastodon's, then again without it: one inbox each), a new post is
   added and ``POST /-/rebuild`` asked. Measured from that request: the first and the
   last delivery the farm receives (every inbox reached), deliveries per second with
   signing (each request signed when sent), and the delivering worker's peak RSS and
   CPU time (from /proc).
2. **follows**: ``--actors`` remote actors (keys made here, documents served by the
   farm) send signed Follows to the shared inbox at ``--rate`` per second (open loop,
   one thread per request slot) for ``--seconds``; measured: answers by status, latency
   percentiles, the server's CPU (all workers) per second, and the Accepts the farm gets
   back. The first Follow of each actor costs a key fetch; later ones use the cached key.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FARM_PORT = 18444


def farm_addresses(count: int) -> list[str]:
    return [f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range(count)]


# -- the inbox farm (its own process) ----------------------------------------------------------


def run_farm(hosts: int, keys_file: str | None) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    actors: dict[str, bytes] = {}
    if keys_file:
        for name, pem in json.loads(Path(keys_file).read_text()).items():
            actors[name] = pem.encode()
    arrivals: list[tuple[float, str, str]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path = lines[0].split(" ")[:2]
            length = next((int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0)
            host = next((line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("host:")), "")
            body = await reader.readexactly(length) if length else b""
            if method == "POST":
                kind = json.loads(body).get("type", "?")
                arrivals.append((time.time(), host, kind))
                writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            else:
                name = path.rsplit("/", 1)[-1]
                if name in actors:
                    actor = f"http://{host}/users/{name}"
                    doc = {
                        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
                        "id": actor,
                        "type": "Person",
                        "inbox": actor + "/inbox",
                        "endpoints": {"sharedInbox": f"http://{host}/inbox"},
                        "publicKey": {"id": actor + "#main-key", "owner": actor, "publicKeyPem": actors[name].decode()},
                    }
                    data = json.dumps(doc).encode()
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/activity+json\r\nConnection: close\r\nContent-Length: "
                        + str(len(data)).encode()
                        + b"\r\n\r\n"
                        + data
                    )
                else:
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    async def report() -> None:
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            done = list(arrivals)
            arrivals.clear()
            print(json.dumps({"arrivals": done}), flush=True)

    async def main() -> None:
        server = await asyncio.start_server(handle, host=farm_addresses(hosts), port=FARM_PORT, backlog=4096, reuse_address=True)
        print(json.dumps({"ready": True}), flush=True)
        async with server:
            await report()

    asyncio.run(main())


class Farm:
    def __init__(self, hosts: int, keys_file: str | None = None) -> None:
        argv = [sys.executable, __file__, "farm", "--hosts", str(hosts)] + (["--keys", keys_file] if keys_file else [])
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        json.loads(self.process.stdout.readline())

    def take(self) -> list[tuple[float, str, str]]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        return [tuple(a) for a in json.loads(self.process.stdout.readline())["arrivals"]]  # type: ignore[misc]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


# -- the server ---------------------------------------------------------------------------------


class Server:
    def __init__(self, folder: Path, hosts: int) -> None:
        shutil.copytree(ROOT / "content", folder / "content", dirs_exist_ok=True)
        self.folder = folder
        self.port = 18555
        self.base = f"http://127.0.0.1:{self.port}"
        self.database = folder / "feeds.db"
        self.log = folder / "server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDS_", "PROMETHEUS_"))}
        env.update(
            {
                "FEEDS_CONTENT_DIR": str(folder / "content"),
                "FEEDS_SITE_URL": self.base,
                "FEEDS_SNAPSHOT_DIR": str(folder / "snapshot"),
                "FEEDS_FEDIVERSE": "true",
                "FEEDS_FEDIVERSE_ALLOWED_PRIVATE": "127.0.0.0/8",
                "FEEDS_DATABASE_URL": f"sqlite:///{self.database}",
                "FEEDS_REBUILD_TOKEN": "bench",
                "FEEDS_LOG_FORMAT": "kv",
            }
        )
        argv = [sys.executable, "-m", "granian", "--interface", "wsgi", "--workers", "2", "--blocking-threads", "4"]
        argv += ["--host", "127.0.0.1", "--port", str(self.port), "wsgi:app"]
        output = self.log.open("w")
        self.process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_log("event=fediverse_publish", 60)  # the first look at the posts, recorded

    def wait_log(self, needle: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log.read_text(errors="replace").splitlines():
                if needle in line:
                    return line
            time.sleep(0.05)
        raise RuntimeError(f"no {needle} in the log:\n{self.log.read_text()[-3000:]}")

    def deliverer(self) -> int:
        line = self.wait_log("event=fediverse_delivering", 60)
        return int(line.rsplit(":", 1)[1].split()[0])

    def rebuild(self) -> None:
        request = urllib.request.Request(self.base + "/-/rebuild", method="POST", data=b"", headers={"Authorization": "Bearer bench"})
        urllib.request.urlopen(request, timeout=60).read()

    def workers_cpu(self) -> float:
        total = 0.0
        for pid in [self.process.pid, *children(self.process.pid)]:
            total += cpu_seconds(pid)
        return total

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- part 1: one post to 10,000 followers ---------------------------------------------------------


def deliver(args: argparse.Namespace, folder: Path) -> list[dict[str, Any]]:
    results = []
    farm = Farm(args.hosts)
    server = Server(folder, args.hosts)
    try:
        pid = server.deliverer()
        for shared in (True, False):
            addresses = farm_addresses(args.hosts)
            with sqlite3.connect(server.database) as connection:
                connection.execute("DELETE FROM fediverse_followers")
                rows = []
                for n in range(args.followers):
                    host = f"{addresses[n % args.hosts]}:{FARM_PORT}"
                    follower = f"http://{host}/users/u{n}"
                    rows.append(("/ap/site", follower, follower + "/inbox", f"http://{host}/inbox" if shared else None, None, 0))
                connection.executemany("INSERT INTO fediverse_followers VALUES (?, ?, ?, ?, ?, ?)", rows)
            expected = args.hosts if shared else args.followers
            farm.take()
            slug = f"bench-{'shared' if shared else 'personal'}-{int(time.time())}"
            post = f"---\ntitle: Bench {slug}\ndate: 2026-05-30\n---\nA post for {args.followers} followers.\n"
            (folder / "content" / f"2026-05-30-{slug}.md").write_text(post)
            cpu_before, peak = cpu_seconds(pid), rss_mb(pid)
            started = time.time()
            server.rebuild()
            arrivals: list[tuple[float, str, str]] = []
            deadline = time.monotonic() + args.timeout
            while len(arrivals) < expected and time.monotonic() < deadline:
                time.sleep(0.1)
                peak = max(peak, rss_mb(pid))
                arrivals += [a for a in farm.take() if a[2] == "Create"]
            first = min(a[0] for a in arrivals) if arrivals else float("nan")
            last = max(a[0] for a in arrivals) if arrivals else float("nan")
            result = {
                "inboxes": "shared (Mastodon)" if shared else "personal only",
                "followers": args.followers,
                "hosts": args.hosts,
                "deliveries": len(arrivals),
                "expected": expected,
                "distinct_inboxes": len({a[1] for a in arrivals}),
                "first_s": round(first - started, 2),
                "last_s": round(last - started, 2),
                "per_s": round(len(arrivals) / (last - first), 1) if len(arrivals) > 1 else None,
                "deliverer_cpu_s": round(cpu_seconds(pid) - cpu_before, 2),
                "deliverer_peak_rss_mb": round(peak, 1),
            }
            print(json.dumps(result), flush=True)
            results.append(result)
    finally:
        server.stop()
        farm.stop()
    return results


# -- part 2: 100 signed Follows per second --------------------------------------------------------


def follows(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from feeds.fediverse import signatures

    keys = {f"a{n}": signatures.generate_key() for n in range(args.actors)}
    folder.mkdir(parents=True)
    keys_file = folder.parent / "keys.json"
    keys_file.write_text(json.dumps({name: signatures.public_pem(key) for name, key in keys.items()}))
    farm = Farm(args.hosts, str(keys_file))
    server = Server(folder, args.hosts)
    accounts = ["/ap/site"] + [f"/ap/tags/{t}" for t in ("go", "testing", "sre", "observability", "migration", "spanner", "terraform")]
    addresses = farm_addresses(args.hosts)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def send(n: int) -> None:
        name = f"a{n % args.actors}"
        host = f"{addresses[n % args.actors % args.hosts]}:{FARM_PORT}"
        actor = f"http://{host}/users/{name}"
        target = server.base + accounts[(n // args.actors) % len(accounts)]
        body = json.dumps({"id": f"{actor}/follows/{n}", "type": "Follow", "actor": actor, "object": target}).encode()
        headers = signatures.sign(keys[name], actor + "#main-key", "POST", "/ap/inbox", f"127.0.0.1:{server.port}", body)
        headers["Content-Type"] = "application/activity+json"
        request = urllib.request.Request(server.base + "/ap/inbox", data=body, headers=headers)
        began = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status = response.status
        except urllib.error.HTTPError as e:
            status = e.code
        except OSError:
            status = 0
        with lock:
            latencies.append(time.perf_counter() - began)
            statuses[status] = statuses.get(status, 0) + 1

    try:
        server.deliverer()
        farm.take()
        cpu_before = server.workers_cpu()
        started = time.monotonic()
        threads = []
        total = args.rate * args.seconds
        for n in range(total):
            due = started + n / args.rate
            time.sleep(max(0.0, due - time.monotonic()))
            thread = threading.Thread(target=send, args=(n,))
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        cpu = server.workers_cpu() - cpu_before
        accepts = 0
        deadline = time.monotonic() + 60
        while accepts < statuses.get(202, 0) and time.monotonic() < deadline:
            accepts += sum(1 for a in farm.take() if a[2] == "Accept")
            time.sleep(0.2)
        latencies.sort()
        result = {
            "rate": args.rate,
            "seconds": round(elapsed, 1),
            "follows": total,
            "statuses": statuses,
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
            "server_cpu_per_s": round(cpu / elapsed, 2),
            "server_cpu_ms_per_follow": round(cpu / total * 1000, 2),
            "accepts_delivered": accepts,
        }
        print(json.dumps(result), flush=True)
        return result
    finally:
        server.stop()
        farm.stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("part", nargs="?", default="all", choices=["all", "deliver", "follows"])
    parser.add_argument("--followers", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, default=2_000)
    parser.add_argument("--actors", type=int, default=100)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=120.0)


def run(args: argparse.Namespace) -> int:
    folder = Path(tempfile.mkdtemp(prefix="feeds-fedi-bench-"))
    try:
        if args.part in ("all", "deliver"):
            deliver(args, folder / "deliver")
        if args.part in ("all", "follows"):
            follows(args, folder / "follows")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":  # the inbox farm's own process: python bench/fediverse.py farm --hosts N [--keys FILE]
    farm = argparse.ArgumentParser()
    farm.add_argument("command", choices=["farm"])
    farm.add_argument("--hosts", type=int, required=True)
    farm.add_argument("--keys")
    options = farm.parse_args()
    run_farm(options.hosts, options.keys)

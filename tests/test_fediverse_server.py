"""The delivery queue through real server processes: an inbox that is down, a restart, two hosts on one database."""

from __future__ import annotations

import json
import shutil
import sqlite3
import urllib.request
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from .conftest import SAMPLE, SITE_CONFIG
from .fediremote import Remote
from .server import ServerProcess, free_port
from .waiting import wait_until

NEW_POST = "---\ntitle: While you were away\ndate: 2026-05-21\ntags: [Go]\n---\nBody.\n"


class Serve(ServerProcess):
    """``feeds serve`` on a given port (a restart keeps its address, snapshot folder and database)."""

    def __init__(self, content: Path, config: Path, port: int, env: dict[str, str] | None = None) -> None:
        self._fixed = port
        super().__init__(content, config, env=env)

    def _spawn(self, name: str, folder: Path, settings: dict[str, str], env: dict[str, str] | None, preexec_fn: Any = None) -> None:
        super()._spawn(name, folder, settings, env, preexec_fn)
        self.port = self._fixed
        self.base = f"http://127.0.0.1:{self.port}"
        self._environ.setdefault("FEEDS_SITE_URL", self.base)
        if "FEEDS_SITE_URL" not in (env or {}):
            self._environ["FEEDS_SITE_URL"] = self.base
        self._environ["FEEDS_SNAPSHOT_DIR"] = str(folder / f"snapshot-{self.port}")
        self.log = folder / f"server-{self.port}-{id(self)}.log"

    def rebuild(self) -> None:
        request = urllib.request.Request(self.url("/-/rebuild"), method="POST", data=b"", headers={"Authorization": "Bearer t"})
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status in (200, 202)

    def wait_log(self, needle: str, timeout: float = 30.0) -> None:
        wait_until(lambda: needle in self.log.read_text(errors="replace"), timeout, f"{needle} in the log", detail=self.log.read_text)


def _site(tmp_path: Path, database_url: str) -> tuple[Path, Path]:
    shutil.copytree(SAMPLE, tmp_path / "content")
    config = tmp_path / "feeds.toml"
    settings = f'fediverse = true\nfediverse_allowed_private = ["127.0.0.1"]\nrebuild_token = "t"\ndatabase_url = "{database_url}"\n'
    config.write_text(settings + SITE_CONFIG, encoding="utf-8")
    return tmp_path / "content", config


def _follow(server: Serve, remote: Remote, name: str) -> None:
    status, _ = remote.post(name, server.url("/ap/inbox"), remote.follow(name, server.url("/ap/site")))
    assert status == 202


def test_a_delivery_to_an_inbox_that_is_down_is_retried_after_it_comes_back_across_a_restart(tmp_path: Path) -> None:
    database = tmp_path / "fediverse.db"
    content, config = _site(tmp_path, f"sqlite:///{database}")
    port = free_port()
    remote = Remote()
    remote.add("ann", endpoints={})
    remote_port = remote.port
    with Serve(content, config, port) as server:
        _follow(server, remote, "ann")
        remote.wait_for(lambda a: a["type"] == "Accept")
        keys = dict(remote.keys)
        remote.close()  # the follower's server goes down
        (content / "2026-05-21-away.md").write_text(NEW_POST, encoding="utf-8")
        server.rebuild()
        server.wait_log("event=fediverse_delivery_retry")  # refused: queued for a retry
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT COUNT(*) FROM fediverse_deliveries").fetchone() == (1,)
        # The retry is due in DELIVERY_FIRST_RETRY seconds: move it to now rather than wait.
        connection.execute("UPDATE fediverse_deliveries SET due_at = 0")
    back = Remote(port=remote_port)  # the follower's server is back, at the same address
    back.keys.update(keys)
    try:
        with Serve(content, config, port):
            create = back.wait_for(lambda a: a["type"] == "Create", timeout=60)
            assert create["object"]["name"] == "While you were away"
    finally:
        back.close()
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT COUNT(*) FROM fediverse_deliveries").fetchone() == (0,)


def test_two_hosts_on_one_database_send_each_activity_once(tmp_path: Path, postgres: Any) -> None:
    url = postgres.create_database()
    content, config = _site(tmp_path, url)
    remote = Remote()
    remote.add("ann", endpoints={})
    with Serve(content, config, free_port()) as one, Serve(content, config, free_port(), env={"FEEDS_SITE_URL": one.base}) as two:
        _follow(one, remote, "ann")
        remote.wait_for(lambda a: a["type"] == "Accept")
        (content / "2026-05-21-away.md").write_text(NEW_POST, encoding="utf-8")
        one.rebuild()
        two.rebuild()
        remote.wait_for(lambda a: a["type"] == "Create", timeout=60)
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.connect() as connection:  # every published post (the sample's 21, its podcast section's 3 among them) and the new one
            assert connection.execute(text("SELECT COUNT(*) FROM fediverse_objects WHERE deleted = 0")).scalar_one() == 22
        engine.dispose()
        logs = one.log.read_text() + two.log.read_text()
        assert logs.count("event=fediverse_delivering") == 1  # one process of the two hosts holds the lease
    remote.close()
    assert remote.types().count("Create") == 1 and remote.types().count("Accept") == 1, remote.types()
    assert json.loads(remote.received[-1][2])["type"] in ("Create", "Accept")

"""The shared database: migrations once under a lock, transactions, leases — on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import multiprocessing
import sys
import threading
import time
import types
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from feeds.config import load_config
from feeds.db import Database, DatabaseError, MigrationError, lease, open_database
from feeds.db.migrate import Migration, discover, migrate
from feeds.errors import ConfigError

TABLES = {"leases", "subscriber_reports", "subscriber_keys", "subscriber_readers", "subscriber_refused", "subscriber_daily"}


def table_names(database: Database) -> set[str]:
    query = (
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        if database.dialect == "sqlite"
        else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    )
    with database.read() as connection:
        return {row[0] for row in connection.execute(text(query))}


def test_migrations_create_the_schema_once(database_url: str) -> None:
    database = Database(database_url)
    assert database.migrate() == [m.version for m in discover()]
    assert TABLES | {"schema_migrations"} <= table_names(database)
    assert database.migrate() == []
    with database.read() as connection:
        rows = connection.execute(text("SELECT version, name FROM schema_migrations ORDER BY version")).all()
    assert [tuple(row) for row in rows] == [(m.version, m.name) for m in discover()]
    database.close()


def _migrate_in_child(url: str, ready: multiprocessing.Queue, go: threading.Event, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    database = Database(url)
    ready.put("ready")
    go.wait()
    try:
        results.put(database.migrate())
    except Exception as e:  # reported to the test, which fails with it
        results.put(repr(e))
    finally:
        database.close()


def test_workers_starting_at_once_apply_each_migration_once(database_url: str) -> None:
    """Six processes migrate while the lock is held; released, exactly one applies the schema, the others find it done."""
    context = multiprocessing.get_context("spawn")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    children = [context.Process(target=_migrate_in_child, args=(database_url, ready, go, results)) for _ in range(6)]
    holder = Database(database_url)
    with holder.write() as connection:  # the lock every migrate() takes first
        if holder.dialect == "postgresql":
            from feeds.db.migrate import LOCK_KEY

            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        for child in children:
            child.start()
        for _ in children:
            ready.get(timeout=60)
        go.set()
        if holder.dialect == "postgresql":  # proof that they contend: all six wait on the advisory lock
            _wait_for_waiters(database_url, len(children))
    outcomes = [results.get(timeout=60) for _ in children]
    for child in children:
        child.join(timeout=30)
    assert sorted(map(str, outcomes)) == sorted([str([m.version for m in discover()])] + ["[]"] * 5)
    with holder.read() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM schema_migrations")).scalar() == len(discover())
    holder.close()


def _wait_for_waiters(url: str, count: int) -> None:
    deadline = time.monotonic() + 60
    query = text("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    observer = Database(url)
    with observer.read() as connection:  # pg_locks shows the live state, not the transaction's snapshot
        while connection.execute(query).scalar() != count:
            assert time.monotonic() < deadline, "the migrating processes never waited on the lock"
            time.sleep(0.02)
    observer.close()


def test_a_failing_migration_leaves_the_schema_as_it_was(database_url: str) -> None:
    def first(connection: Connection) -> None:
        connection.execute(text("CREATE TABLE first_table (id INTEGER PRIMARY KEY)"))

    def broken(connection: Connection) -> None:
        connection.execute(text("CREATE TABLE second_table (id INTEGER PRIMARY KEY)"))
        connection.execute(text("INSERT INTO no_such_table VALUES (1)"))

    database = Database(database_url)
    with pytest.raises(MigrationError, match="migration 0002_broken failed") as caught:
        migrate(database, (Migration(1, "first", first), Migration(2, "broken", broken)))
    assert "no_such_table" in str(caught.value)
    assert not {"first_table", "second_table", "schema_migrations"} & table_names(database)
    assert migrate(database, (Migration(1, "first", first),)) == [1]
    assert "first_table" in table_names(database)
    database.close()


def test_migration_numbers_have_no_gaps(tmp_path: Path) -> None:
    package = tmp_path / "fake_migrations"
    package.mkdir()
    for name in ("m0001_base", "m0003_later"):
        (package / f"{name}.py").write_text("def upgrade(connection):\n    pass\n")
    module = types.ModuleType("fake_migrations")
    module.__path__ = [str(package)]
    sys.modules["fake_migrations"] = module
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(MigrationError, match="0001, 0003"):
            discover(module)
    finally:
        sys.path.remove(str(tmp_path))
        for key in [k for k in sys.modules if k.startswith("fake_migrations")]:
            del sys.modules[key]


def test_a_failed_transaction_is_rolled_back(database_url: str) -> None:
    database = Database(database_url)
    database.migrate()
    with pytest.raises(DatabaseError, match="database .*"), database.write() as connection:
        connection.execute(text("INSERT INTO leases (name, holder, expires_at) VALUES ('a', 'me', 1)"))
        connection.execute(text("INSERT INTO leases (name, holder, expires_at) VALUES ('a', 'me', 1)"))  # duplicate key
    with database.read() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM leases")).scalar() == 0
    database.close()


def test_concurrent_writers_wait_for_each_other(database_url: str) -> None:
    """Eight threads each add to one counter 25 times in read-then-write transactions: no update is lost, none fails."""
    database = Database(database_url)
    database.migrate()
    with database.write() as connection:
        connection.execute(text("INSERT INTO leases (name, holder, expires_at) VALUES ('counter', 'x', 0)"))
    errors: list[BaseException] = []

    def add() -> None:
        try:
            for _ in range(25):
                with database.write() as connection:
                    query = "SELECT expires_at FROM leases WHERE name = 'counter'"
                    if database.dialect == "postgresql":
                        query += " FOR UPDATE"
                    value = connection.execute(text(query)).scalar_one()
                    connection.execute(text("UPDATE leases SET expires_at = :v WHERE name = 'counter'"), {"v": value + 1})
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=add) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with database.read() as connection:
        assert connection.execute(text("SELECT expires_at FROM leases WHERE name = 'counter'")).scalar() == 200
    database.close()


def test_a_lease_has_one_holder_until_it_expires(database_url: str) -> None:
    database = Database(database_url)
    database.migrate()
    with database.write() as connection:
        assert lease.acquire(connection, "job", "a", 10, now=100)
        assert not lease.acquire(connection, "job", "b", 10, now=105)
        assert lease.acquire(connection, "job", "a", 10, now=105)  # renewed: now until 115
        assert not lease.acquire(connection, "job", "b", 10, now=114)
        assert lease.holder_of(connection, "job", now=114) == "a"
        assert lease.acquire(connection, "job", "b", 10, now=115)  # expired: taken over
        assert lease.holder_of(connection, "job", now=116) == "b"
        lease.release(connection, "job", "a")  # not a's any more: nothing happens
        assert lease.holder_of(connection, "job", now=116) == "b"
        lease.release(connection, "job", "b")
        assert lease.holder_of(connection, "job", now=116) is None
        assert lease.acquire(connection, "job", "a", 10, now=117)
    database.close()


def test_errors_name_the_database_without_its_password() -> None:
    database = Database("postgresql://feeds:s3cret-password@127.0.0.1:9/nothing")
    with pytest.raises(DatabaseError) as caught, database.read():
        pass
    assert "s3cret" not in str(caught.value) and "***" in str(caught.value)
    assert str(caught.value).startswith("database postgresql+psycopg://feeds:***@127.0.0.1:9/nothing: ")


def test_the_default_database_is_a_file_beside_the_snapshot(tmp_path: Path) -> None:
    config = load_config(env={}, overrides={"content_dir": str(tmp_path)})
    database = open_database(config, tmp_path / "snapshot")
    assert database.dialect == "sqlite" and (tmp_path / "snapshot" / "feeds.db").is_file()
    with database.read() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    database.close()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("mysql://root:hunter2@db/feeds", "scheme 'mysql'"),
        ("sqlite://", "sqlite:///relative/path"),
        ("sqlite:///:memory:", "a file every worker opens"),
        ("postgresql://feeds:hunter2@db", "must name its database"),
    ],
)
def test_a_bad_database_url_names_the_key_and_not_the_password(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match="database_url") as caught:
        load_config(env={"FEEDS_DATABASE_URL": value})
    assert message in str(caught.value) and "hunter2" not in str(caught.value)


def test_the_service_opens_the_database_in_the_background(tmp_path: Path) -> None:
    from feeds.service.database import DatabaseService

    config = load_config(env={}, overrides={"content_dir": str(tmp_path)})
    service = DatabaseService(config, tmp_path / "snapshot").start()
    database = service.wait(timeout=60)
    assert service.ready and service.status() == {"open": True}
    assert database.migrate() == []  # already migrated by the service
    service.stop(deadline=time.monotonic() + 5)
    assert not service.ready


def test_an_unreachable_database_is_retried_and_reported(tmp_path: Path) -> None:
    from feeds.service.database import DatabaseService

    config = load_config(env={}, overrides={"content_dir": str(tmp_path), "database_url": "postgresql://feeds:pw@127.0.0.1:9/x"})
    service = DatabaseService(config, tmp_path).start()
    deadline = time.monotonic() + 60
    while "error" not in service.status():  # the first try has failed
        assert time.monotonic() < deadline
        time.sleep(0.02)
    with pytest.raises(DatabaseError, match=r"postgresql\+psycopg://feeds:\*\*\*@127.0.0.1:9/x"):
        service.wait(timeout=0.01)
    assert service.status()["open"] is False
    service.stop(deadline=time.monotonic() + 5)

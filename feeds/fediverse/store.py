"""The fediverse's rows in the shared database: keys, followers, remote actors, objects, the delivery queue.

Every function takes a ``Database`` (``feeds.db``) and runs its own short
transaction, or a ``Connection`` when the caller holds one. SQL is written once
with ``:name`` parameters for SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import Connection, text

from feeds import urls
from feeds.db import Database
from feeds.fediverse import signatures


def now_ms() -> int:
    return int(time.time() * 1000)


#: SQLite has one writer at a time, and a writer that finds the lock taken sleeps in growing steps (up to
#: 100 ms) before it tries again: the threads of one process queue here instead, in order.
_SQLITE_WRITER = threading.Lock()


@contextlib.contextmanager
def writing(database: Database) -> Iterator[Connection]:
    """A write transaction; on SQLite, the threads of this process take turns before asking for the database's lock."""
    if database.dialect != "sqlite":
        with database.write() as connection:
            yield connection
        return
    with _SQLITE_WRITER, database.write() as connection:
        yield connection


# -- our keys --------------------------------------------------------------------------------


class Keys:
    """Each account's key pair: made once (the first worker to need it wins a race), then cached in memory."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._cache: dict[str, tuple[rsa.RSAPrivateKey, str]] = {}
        self._lock = threading.Lock()

    def get(self, actor: str) -> tuple[rsa.RSAPrivateKey, str]:
        """Return (private key, public PEM) of our actor at path ``actor``, making the pair on first use."""
        cached = self._cache.get(actor)
        if cached is not None:
            return cached
        with self._lock:
            row = self._read(actor)
            if row is None:
                key = signatures.generate_key()
                with writing(self.database) as connection:
                    connection.execute(
                        text(
                            "INSERT INTO fediverse_keys (actor, private_pem, public_pem, created_at)"
                            " VALUES (:actor, :private, :public, :at) ON CONFLICT (actor) DO NOTHING"
                        ),
                        {"actor": actor, "private": signatures.private_pem(key), "public": signatures.public_pem(key), "at": now_ms()},
                    )
                row = self._read(actor)
                assert row is not None
            pair = (signatures.load_private(row[0]), row[1])
            self._cache[actor] = pair
            return pair

    def _read(self, actor: str) -> tuple[str, str] | None:
        with self.database.read() as connection:
            row = connection.execute(
                text("SELECT private_pem, public_pem FROM fediverse_keys WHERE actor = :actor"), {"actor": actor}
            ).first()
        return None if row is None else (str(row[0]), str(row[1]))


# -- remote actors -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteActor:
    id: str
    key_id: str
    public_pem: str
    inbox: str
    shared_inbox: str | None
    #: Milliseconds since the epoch.
    fetched_at: int


def remote_by_key(database: Database, key_id: str) -> RemoteActor | None:
    with database.read() as connection:
        row = connection.execute(
            text("SELECT id, key_id, public_pem, inbox, shared_inbox, fetched_at FROM fediverse_remote_actors WHERE key_id = :key"),
            {"key": key_id},
        ).first()
    return None if row is None else RemoteActor(*row)


def save_remote(database: Database, actor: RemoteActor) -> None:
    with writing(database) as connection:
        connection.execute(
            text("DELETE FROM fediverse_remote_actors WHERE key_id = :key AND id <> :id"), {"key": actor.key_id, "id": actor.id}
        )
        connection.execute(
            text(
                "INSERT INTO fediverse_remote_actors (id, key_id, public_pem, inbox, shared_inbox, fetched_at)"
                " VALUES (:id, :key_id, :public_pem, :inbox, :shared_inbox, :fetched_at)"
                " ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id, public_pem = excluded.public_pem,"
                " inbox = excluded.inbox, shared_inbox = excluded.shared_inbox, fetched_at = excluded.fetched_at"
            ),
            actor.__dict__,
        )


def forget_remote(connection: Connection, actor_id: str) -> int:
    """Remove a remote actor (a Delete of it): its follows and its cached key; return how many follows went."""
    gone = connection.execute(text("DELETE FROM fediverse_followers WHERE follower = :id"), {"id": actor_id}).rowcount
    connection.execute(text("DELETE FROM fediverse_remote_actors WHERE id = :id"), {"id": actor_id})
    return int(gone)


# -- followers ---------------------------------------------------------------------------------


def add_follower(connection: Connection, actor: str, follower: RemoteActor, follow_id: str | None) -> bool:
    """Record that ``follower`` follows our ``actor``; return whether the follow is new."""
    key = {"actor": actor, "follower": follower.id}
    existed = connection.execute(text("SELECT 1 FROM fediverse_followers WHERE actor = :actor AND follower = :follower"), key).first()
    connection.execute(
        text(
            "INSERT INTO fediverse_followers (actor, follower, inbox, shared_inbox, follow_id, created_at)"
            " VALUES (:actor, :follower, :inbox, :shared, :follow, :at)"
            " ON CONFLICT (actor, follower) DO UPDATE SET inbox = excluded.inbox, shared_inbox = excluded.shared_inbox,"
            " follow_id = excluded.follow_id"
        ),
        {**key, "inbox": follower.inbox, "shared": follower.shared_inbox, "follow": follow_id, "at": now_ms()},
    )
    return existed is None


def remove_follower(connection: Connection, actor: str, follower: str) -> bool:
    gone = connection.execute(
        text("DELETE FROM fediverse_followers WHERE actor = :actor AND follower = :follower"), {"actor": actor, "follower": follower}
    ).rowcount
    return bool(gone)


def remove_inbox(database: Database, inbox: str) -> int:
    """Remove every follow delivered through ``inbox`` (it answered 410 Gone); return how many."""
    with writing(database) as connection:
        gone = connection.execute(
            text("DELETE FROM fediverse_followers WHERE inbox = :inbox OR shared_inbox = :inbox"), {"inbox": inbox}
        ).rowcount
    return int(gone)


def follower_count(database: Database, actor: str) -> int:
    with database.read() as connection:
        return int(connection.execute(text("SELECT COUNT(*) FROM fediverse_followers WHERE actor = :actor"), {"actor": actor}).scalar_one())


def follower_counts(connection: Connection) -> dict[str, int]:
    """Followers per feed scope (``/`` for the site, ``/tags/<slug>/`` for a tag): issue 18's fediverse source."""
    counts: dict[str, int] = {}
    for actor, count in connection.execute(text("SELECT actor, COUNT(*) FROM fediverse_followers GROUP BY actor")):
        scope = scope_of(str(actor))
        if scope is not None:
            counts[scope] = int(count)
    return counts


def scope_of(actor: str) -> str | None:
    """The feed scope an actor path stands for: ``/ap/site`` → ``/``, ``/ap/tags/go`` → ``/tags/go/``."""
    if actor == urls.actor_path(None):
        return urls.SITE
    prefix = urls.actor_path("")
    return urls.tag_prefix(actor[len(prefix) :]) if actor.startswith(prefix) and len(actor) > len(prefix) else None


@dataclass(frozen=True)
class Follower:
    actor: str
    follower: str
    #: Where to deliver: the shared inbox when the follower has one.
    inbox: str


def followers_for(connection: Connection, actors: Iterable[str]) -> list[Follower]:
    """The followers of our ``actors``, with the inbox each is delivered at."""
    actors = sorted(set(actors))
    if not actors:
        return []
    names = {f"a{i}": actor for i, actor in enumerate(actors)}
    placeholders = ", ".join(f":{name}" for name in names)
    rows = connection.execute(
        text(f"SELECT actor, follower, COALESCE(shared_inbox, inbox) FROM fediverse_followers WHERE actor IN ({placeholders})"), names
    ).all()
    return [Follower(str(a), str(f), str(i)) for a, f, i in rows]


def inboxes_of_follower(database: Database, follower: str) -> list[str]:
    with database.read() as connection:
        rows = connection.execute(
            text("SELECT DISTINCT COALESCE(shared_inbox, inbox) FROM fediverse_followers WHERE follower = :f"), {"f": follower}
        ).all()
    return [str(row[0]) for row in rows]


# -- replays -----------------------------------------------------------------------------------


def first_sight(connection: Connection, signature: bytes, ttl_seconds: float) -> bool:
    """Record a signature; False when it was seen within its window already (a replayed request)."""
    digest = hashlib.sha256(signature).hexdigest()
    now = now_ms()
    if digest[:2] == "00":  # now and then (1 in 256), forget the expired ones
        connection.execute(text("DELETE FROM fediverse_seen WHERE expires_at < :now"), {"now": now})
    inserted = connection.execute(
        text("INSERT INTO fediverse_seen (signature, expires_at) VALUES (:s, :e) ON CONFLICT (signature) DO NOTHING"),
        {"s": digest, "e": now + int(ttl_seconds * 1000)},
    ).rowcount
    return bool(inserted)


# -- state -------------------------------------------------------------------------------------


def get_state(connection: Connection, name: str) -> str | None:
    value = connection.execute(text("SELECT value FROM fediverse_state WHERE name = :n"), {"n": name}).scalar()
    return None if value is None else str(value)


def set_state(connection: Connection, name: str, value: str) -> None:
    connection.execute(
        text("INSERT INTO fediverse_state (name, value) VALUES (:n, :v) ON CONFLICT (name) DO UPDATE SET value = excluded.value"),
        {"n": name, "v": value},
    )


# -- the queue ---------------------------------------------------------------------------------


def enqueue(connection: Connection, actor: str, body: bytes, inboxes: Sequence[str]) -> int:
    """Queue one activity (signed by our ``actor``) for each inbox, due now; return how many deliveries."""
    if not inboxes:
        return 0
    now = now_ms()
    result = connection.execute(
        text("INSERT INTO fediverse_activities (actor, body, created_at) VALUES (:actor, :body, :at) RETURNING id"),
        {"actor": actor, "body": body.decode("utf-8"), "at": now},
    )
    activity = int(result.scalar_one())
    rows = [{"activity": activity, "inbox": inbox, "host": host_of(inbox), "at": now} for inbox in dict.fromkeys(inboxes)]
    connection.execute(
        text(
            "INSERT INTO fediverse_deliveries (activity, inbox, host, attempts, due_at, created_at)"
            " VALUES (:activity, :inbox, :host, 0, :at, :at) ON CONFLICT (activity, inbox) DO NOTHING"
        ),
        rows,
    )
    return len(rows)


def host_of(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0].lower()


@dataclass(frozen=True)
class Delivery:
    id: int
    activity: int
    actor: str
    inbox: str
    host: str
    attempts: int
    #: Milliseconds since the epoch.
    created_at: int


def due(database: Database, limit: int, skip_hosts: Iterable[str] = (), skip_ids: Iterable[int] = ()) -> list[Delivery]:
    """Deliveries due now, oldest due first, leaving out busy hosts and those already in flight."""
    skip_hosts, skip_ids = set(skip_hosts), set(skip_ids)
    with database.read() as connection:
        rows = connection.execute(
            text(
                "SELECT d.id, d.activity, a.actor, d.inbox, d.host, d.attempts, d.created_at FROM fediverse_deliveries d"
                " JOIN fediverse_activities a ON a.id = d.activity WHERE d.due_at <= :now ORDER BY d.due_at, d.id LIMIT :limit"
            ),
            {"now": now_ms(), "limit": limit + len(skip_ids) + 64 * len(skip_hosts)},
        ).all()
    out = [Delivery(*row) for row in rows if row[0] not in skip_ids and row[4] not in skip_hosts]
    return out[:limit]


def bodies(database: Database, activities: Iterable[int]) -> dict[int, bytes]:
    ids = sorted(set(activities))
    if not ids:
        return {}
    names = {f"i{n}": value for n, value in enumerate(ids)}
    with database.read() as connection:
        rows = connection.execute(
            text(f"SELECT id, body FROM fediverse_activities WHERE id IN ({', '.join(':' + k for k in names)})"), names
        ).all()
    return {int(i): str(body).encode("utf-8") for i, body in rows}


def finish(database: Database, done: Sequence[int], retry: Mapping[int, tuple[int, str]], dropped: Sequence[int]) -> None:
    """Record a batch of outcomes: ``done`` (2xx) and ``dropped`` rows go; ``retry`` rows get (next due ms, error)."""
    with writing(database) as connection:
        gone = [{"id": i} for i in [*done, *dropped]]
        if gone:
            connection.execute(text("DELETE FROM fediverse_deliveries WHERE id = :id"), gone)
        if retry:
            connection.execute(
                text(
                    "UPDATE fediverse_deliveries SET attempts = attempts + 1, due_at = :due, last_error = :error, failed_at = :now"
                    " WHERE id = :id"
                ),
                [{"id": i, "due": due_at, "error": error[:300], "now": now_ms()} for i, (due_at, error) in retry.items()],
            )


def collect(database: Database) -> int:
    """Remove activities whose every delivery is over; return how many."""
    statement = text(
        "DELETE FROM fediverse_activities"
        " WHERE NOT EXISTS (SELECT 1 FROM fediverse_deliveries d WHERE d.activity = fediverse_activities.id)"
    )
    with writing(database) as connection:
        return int(connection.execute(statement).rowcount)


def queue_size(database: Database) -> int:
    with database.read() as connection:
        return int(connection.execute(text("SELECT COUNT(*) FROM fediverse_deliveries")).scalar_one())


def status(connection: Connection) -> dict[str, object]:
    """For /healthz: distinct followers, deliveries queued and waiting for a retry, and the newest failure's host and error."""
    followers = connection.execute(text("SELECT COUNT(DISTINCT follower) FROM fediverse_followers")).scalar_one()
    queued, retrying = connection.execute(
        text("SELECT COUNT(*), COALESCE(SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), 0) FROM fediverse_deliveries")
    ).one()
    failure = connection.execute(
        text("SELECT host, last_error, failed_at FROM fediverse_deliveries WHERE failed_at IS NOT NULL ORDER BY failed_at DESC LIMIT 1")
    ).first()
    last = None if failure is None else {"host": failure[0], "error": failure[1], "at": int(failure[2]) // 1000}
    return {"followers": int(followers), "queued": int(queued), "retrying": int(retrying), "last_error": last}

"""An inbox: check who signed an activity, then act on it — Follow, Undo, Delete — or count it.

Every POST to an inbox (an account's or the shared one) goes through, in order:
its size (the web layer reads at most ``MAX_INBOX_BODY``), the Signature header,
blocked domains and the sender host's rate, the Date window and the Digest, the
key (from the database, fetched when unknown or older than a day, fetched again
at once when a signature fails with it: keys rotate), the signature itself, the
replay check (a signature seen before within the window), and that the activity's
``actor`` is the key's owner. Unsigned or badly signed: 401. Then:

- ``Follow`` of one of our accounts: store the follow and queue a signed ``Accept``.
- ``Undo`` of a Follow: remove it. ``Delete`` of the remote actor itself: remove all its follows.
- ``Like``, ``Announce`` and replies (``Create`` with ``inReplyTo``): counted in /metrics.

Everything verified is answered 202 (accepted; the Accept and any delivery are queued).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, text

from feeds import limits, log, urls
from feeds.config import Config
from feeds.db import Database
from feeds.fediverse import documents, signatures, store
from feeds.fediverse.accounts import Account, Directory
from feeds.fediverse.errors import ActivityError, FetchError, RefusedError, SignatureError
from feeds.fediverse.net import Client, Policy, SignFunction
from feeds.fediverse.remote import fetch_actor, id_of, parse_json
from feeds.fediverse.store import RemoteActor
from feeds.render.activity import dumps

#: Activity types counted in /metrics under their own name; others count as "other".
COUNTED = frozenset({"Follow", "Undo", "Delete", "Like", "Announce", "Create", "Update", "Accept", "Reject", "EmojiReact", "Flag"})


@dataclass(frozen=True)
class Incoming:
    """One POST to an inbox, as the web layer read it."""

    method: str
    #: Path and query, as the client sent them (``/ap/inbox``).
    target: str
    #: Lower-case names; repeated headers joined with ", ".
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Outcome:
    status: int
    message: str
    #: Seconds to wait (429).
    retry_after: int | None = None


class RateLimit:
    """A token bucket per remote host, per worker: ``INBOX_RATE_PER_MINUTE`` with bursts of ``INBOX_BURST``."""

    def __init__(self, per_minute: float = limits.INBOX_RATE_PER_MINUTE, burst: float = limits.INBOX_BURST) -> None:
        self.rate, self.burst = per_minute / 60.0, burst
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, host: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, then = self._buckets.pop(host, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[host] = (tokens - 1.0 if allowed else tokens, now)
            while len(self._buckets) > limits.INBOX_RATE_HOSTS:
                self._buckets.popitem(last=False)
        return allowed


class Inbox:
    """Verifies and acts on incoming activities for every account of the site."""

    def __init__(self, config: Config, database: Database, client: Client, keys: store.Keys, sign_as_site: SignFunction) -> None:
        self.config = config
        self.database = database
        self.client = client
        self.keys = keys
        self.sign_as_site = sign_as_site
        self.policy = Policy.of(config)
        self.rate = RateLimit()

    def receive(self, request: Incoming, directory: Directory, account: Account | None) -> Outcome:
        """Handle one POST to ``account``'s inbox (None: the shared inbox)."""
        try:
            return self._receive(request, directory, account)
        except SignatureError as e:
            return self._count("unsigned", "refused", Outcome(401, str(e)))
        except RefusedError as e:
            return self._count("refused", "refused", Outcome(403, f"refused: {e.reason}"))
        except ActivityError as e:
            return self._count("invalid", "refused", Outcome(400, str(e)))
        except FetchError as e:
            return self._count("unsigned", "refused", Outcome(401, f"cannot check the signature: {e}"))

    def _receive(self, request: Incoming, directory: Directory, account: Account | None) -> Outcome:
        params = signatures.parse(request.headers.get("signature") or request.headers.get("authorization"))
        host = (urlsplit(params.key_id).hostname or "").lower()
        if self.policy.blocks(host):
            raise RefusedError(params.key_id, "blocked domain")
        if not self.rate.allow(host):
            return self._count("rate_limited", "refused", Outcome(429, f"too many requests from {host[:100]}", retry_after=60))
        signatures.check_request(params, request.method, request.headers, request.body)
        try:
            activity = parse_json(request.body, "the activity")
        except ValueError as e:
            raise ActivityError(str(e)) from e
        kind = str(activity["type"]) if isinstance(activity.get("type"), str) else "other"
        remote = self._verified(params, request, kind, activity)
        if remote is None:  # a Delete of an actor already gone, whom we never knew: nothing to do
            return self._count(kind, "ignored", Outcome(202, "accepted"))
        if id_of(activity.get("actor")) != remote.id:
            raise SignatureError("the activity's actor is not the signer")
        # One write transaction per activity: the replay check and what it does (SQLite has one writer at a time).
        with store.writing(self.database) as connection:
            if not store.first_sight(connection, params.signature, limits.SIGNATURE_MAX_AGE + limits.SIGNATURE_MAX_FUTURE):
                raise SignatureError("this signed request was already received (a replay)")
            return self._act(connection, kind, activity, remote, directory, account)

    def _verified(
        self, params: signatures.SignatureParams, request: Incoming, kind: str, activity: Mapping[str, Any]
    ) -> RemoteActor | None:
        """The remote actor whose key signed the request; SignatureError when none does."""
        cached = store.remote_by_key(self.database, params.key_id)
        now = store.now_ms()
        fresh = cached is not None and now - cached.fetched_at < limits.KEY_CACHE_SECONDS * 1000
        if cached is not None and fresh and self._check(params, request, cached):
            return cached
        if cached is not None and fresh and now - cached.fetched_at < limits.KEY_REFETCH_SECONDS * 1000:
            raise SignatureError("the signature does not verify")
        try:
            remote = fetch_actor(self.client, params.key_id, self.sign_as_site)
        except FetchError as e:
            if (
                kind == "Delete"
                and e.status in (404, 410)
                and cached is None
                and id_of(activity.get("object")) == id_of(activity.get("actor"))
            ):
                return None
            if cached is not None and self._check(params, request, cached):  # the server is down: the key we had still verifies
                return cached
            raise
        if not self._check(params, request, remote):
            raise SignatureError("the signature does not verify")
        store.save_remote(self.database, remote)
        return remote

    def _check(self, params: signatures.SignatureParams, request: Incoming, remote: RemoteActor) -> bool:
        return signatures.verify(params, signatures.load_public(remote.public_pem), request.method, request.target, request.headers)

    def _act(
        self,
        connection: Connection,
        kind: str,
        activity: Mapping[str, Any],
        remote: RemoteActor,
        directory: Directory,
        account: Account | None,
    ) -> Outcome:
        obj = activity.get("object")
        if kind == "Follow":
            target = directory.by_id.get(id_of(obj) or "")
            if target is None:
                raise ActivityError("the Follow's object is not one of this site's accounts")
            self._follow(connection, activity, remote, target)
            return self._count(kind, "ok", Outcome(202, "accepted"))
        if kind == "Undo" and isinstance(obj, Mapping) and obj.get("type") == "Follow":
            target = directory.by_id.get(id_of(obj.get("object")) or "")
            own = id_of(obj.get("actor")) in (None, remote.id)
            if target is not None and own and store.remove_follower(connection, target.path, remote.id):
                log.event("fediverse_unfollow", account=target.name, follower=remote.id[:200])
            return self._count(kind, "ok", Outcome(202, "accepted"))
        if kind == "Undo" and isinstance(obj, str):
            undone = self._undo_by_id(connection, obj, remote)
            return self._count(kind, "ok" if undone else "ignored", Outcome(202, "accepted"))
        if kind == "Delete" and id_of(obj) == remote.id:
            gone = store.forget_remote(connection, remote.id)
            log.event("fediverse_actor_deleted", actor=remote.id[:200], follows=gone)
            return self._count(kind, "ok", Outcome(202, "accepted"))
        if kind == "Create" and isinstance(obj, Mapping) and obj.get("inReplyTo"):
            return self._count("Reply", "ok", Outcome(202, "accepted"))
        return self._count(kind if kind in COUNTED else "other", "ok", Outcome(202, "accepted"))

    def _follow(self, connection: Connection, activity: Mapping[str, Any], remote: RemoteActor, target: Account) -> None:
        """Store the follow and queue the Accept; the inbox must be one we may deliver to (SSRF rules)."""
        for inbox in filter(None, (remote.inbox, remote.shared_inbox)):
            scheme, host, port, _ = self.policy.check_url(inbox)
            self.policy.address(inbox, scheme, host, port)
        follow = {key: activity[key] for key in ("id", "type", "actor", "object") if key in activity}
        new = store.add_follower(connection, target.path, remote, id_of(activity.get("id")))
        body = dumps(documents.accept(target, {**follow, "object": target.id}))
        store.enqueue(connection, target.path, body, [remote.inbox])
        if new:
            log.event("fediverse_follow", account=target.name, follower=remote.id[:200])

    def _undo_by_id(self, connection: Connection, follow_id: str, remote: RemoteActor) -> bool:
        statement = text("DELETE FROM fediverse_followers WHERE follower = :f AND follow_id = :id")
        return bool(connection.execute(statement, {"f": remote.id, "id": follow_id}).rowcount)

    def _count(self, kind: str, result: str, outcome: Outcome) -> Outcome:
        level = logging.INFO if outcome.status < 400 else logging.WARNING
        if result == "ok" and kind in ("Like", "Announce", "Reply", "Create", "other"):
            log.tally("fediverse_inbox", type=kind, result=result)
        else:
            log.event("fediverse_inbox", level, type=kind, result=result, status=outcome.status, reason=outcome.message[:200])
        return outcome


def site_signer(keys: store.Keys, config: Config) -> SignFunction:
    """Sign a request as the site's account (key fetches, like Mastodon's instance actor)."""
    key_id = urls.absolute(config.site_url, urls.actor_path(None)) + "#main-key"

    def sign(method: str, target: str, host: str, body: bytes | None) -> dict[str, str]:
        private, _ = keys.get(urls.actor_path(None))
        return signatures.sign(private, key_id, method, target, host, body)

    return sign

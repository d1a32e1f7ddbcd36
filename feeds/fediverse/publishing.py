"""What to tell followers when the published posts change: Create, Announce, Update and Delete, fanned out to inboxes.

**How a tag's followers get its posts.** Mastodon puts a status in the home
timelines of the local followers of the status's *account*
(``FanOutOnWriteService``), whatever the status is addressed to. A post is one
Article attributed to the site account, so its ``Create`` reaches the site's
followers only. Each of its tags' accounts then *boosts* it (``Announce``): a
boost is a status of the booster, fanned out to the booster's followers. That is
how WordPress's blog account and Lemmy's communities reach their followers too.

**Once per inbox.** Each activity is delivered once to each inbox, a shared
inbox standing for every follower on that server. Across accounts we send no
more than is needed: at a given inbox the Create covers the site's followers
there, and a tag's Announce goes only where it reaches a follower the Create
and the tags' Announces chosen before it do not (tags with most uncovered
followers first). Someone who follows the site and a tag gets the Create only.
Were both to arrive, Mastodon shows the post once: ``FeedManager#add_to_feed``
does not insert a boost of a status already among the newest 40 of a home
timeline, nor a second boost of it (unless the user turned "Group boosts in
timelines" off).

**Who speaks for a post.** The site's account, when the post is in the site's
feeds (its Article is addressed to the site's followers; a section with
``site_feeds = false`` is not), and the account of each of its tags.

**Driven by the snapshot.** Each post's Article is a snapshot document; the
database remembers, per post, the Article's ETag, a fingerprint of what
followers see and the accounts that speak for it (``fediverse_objects``). A new
Article → Create (+ Announces), a changed fingerprint → Update to every inbox
that has the post (+ a Create or Announces for the accounts it gained, an Undo
of the boost of each tag it lost), a vanished one → Delete. Each change is one
transaction that compares and sets the row and queues the deliveries, so
several hosts publishing the same snapshot queue each activity once. The first
look (fediverse just turned on) records every post without sending anything.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from sqlalchemy import Connection, text

from feeds import urls
from feeds.config import Config
from feeds.db import Database
from feeds.fediverse import documents, store
from feeds.fediverse.accounts import Directory
from feeds.fediverse.net import Policy
from feeds.render.activity import dumps
from feeds.render.plan import ACTIVITY
from feeds.snapshot.manifest import Item, Manifest, Pending

OBJECTS = ACTIVITY + urls.AP + "/objects/"
SITE = urls.actor_path(None)
BASELINE = "baseline"
#: Inbox → our actor (path) → its followers behind that inbox.
Inboxes = Mapping[str, Mapping[str, set[str]]]
#: What followers see of an Article (and who it is for): a change elsewhere (``updated`` alone, key order) sends no Update.
_SEEN = ("name", "summary", "content", "url", "tag", "attachment", "image", "cc")


@dataclass
class Report:
    """What one look at a manifest did."""

    created: int = 0
    updated: int = 0
    deleted: int = 0
    announced: int = 0
    #: Boosts taken back (the post lost a tag).
    undone: int = 0
    recorded: int = 0
    deliveries: int = 0
    #: Object paths created, for the log.
    objects: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Known:
    """A post as followers were last told it."""

    etag: str | None
    fingerprint: str | None
    #: Our actors (paths) whose followers have it: the site's if it was addressed to them, each tag's that boosted it.
    actors: tuple[str, ...]
    deleted: bool


def articles(manifest: Manifest) -> dict[str, Item | Pending]:
    """The Article documents of a manifest, by object path (``/ap/objects/…``)."""
    out: dict[str, Item | Pending] = {}
    for source in (manifest.pending, manifest.items):
        for path, entry in source.items():
            if path.startswith(OBJECTS):
                out[path[len(ACTIVITY) :]] = entry
    return out


def fingerprint(article: Mapping[str, Any]) -> str:
    seen = {key: article.get(key) for key in _SEEN}
    return hashlib.sha256(json.dumps(seen, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]


def actors_of(config: Config, article: Mapping[str, Any]) -> tuple[str, ...]:
    """The actors (paths) that speak for an Article: the site's if its followers are addressed, each tag's of its Hashtags."""
    actors = [SITE] if urls.absolute(config.site_url, SITE + "/followers") in (article.get("cc") or ()) else []
    for tag in article.get("tag") or ():
        path = urls.site_path(config.site_url, str(tag.get("href", "")))
        if path and path.startswith("/tags/") and path.endswith("/"):
            actors.append(urls.actor_path(path[len("/tags/") : -1]))
    return tuple(dict.fromkeys(actors))


class Publisher:
    """Compares the served manifest's Articles with what followers were told, and queues what to tell them."""

    def __init__(self, config: Config, database: Database, read: Callable[[Item], bytes]) -> None:
        self.config = config
        self.database = database
        self.read = read
        self.policy = Policy.of(config)

    def reconcile(self, old: Manifest | None, new: Manifest) -> Report:
        """Queue the activities for every Article that changed between ``old`` and ``new`` (all of them when ``old`` is None)."""
        report = Report()
        current = articles(new)
        with self.database.read() as connection:
            baseline = store.get_state(connection, BASELINE) is not None
        if old is None:  # every post: one read of what followers were told, then only the posts that differ
            with self.database.read() as connection:
                told = {str(o): (e, bool(d)) for o, e, d in connection.execute(text("SELECT object, etag, deleted FROM fediverse_objects"))}
            candidates = {p for p, e in current.items() if not (isinstance(e, Item) and told.get(p) == (e.etag, False))}
            candidates |= {p for p, (_, deleted) in told.items() if not deleted and p not in current}
        else:
            before = articles(old)
            candidates = {p for p, e in current.items() if not isinstance(e, Item) or before.get(p) != e}
            candidates |= {p for p in before if p not in current}
        directory = Directory.of(self.config, new)
        for path in sorted(candidates):
            entry = current.get(path)
            if not baseline:
                self._record(path, entry, report)
            elif entry is None:
                self._delete(path, directory, report)
            elif isinstance(entry, Item):
                self._publish(path, entry, report)
        if not baseline:
            with store.writing(self.database) as connection:
                store.set_state(connection, BASELINE, str(store.now_ms()))
        return report

    def _read(self, entry: Item) -> tuple[dict[str, Any], str, tuple[str, ...]]:
        article = json.loads(self.read(entry))
        return article, fingerprint(article), actors_of(self.config, article)

    def _record(self, path: str, entry: Item | Pending | None, report: Report) -> None:
        """The first look: remember the post as followers would have it, sending nothing."""
        if entry is None:
            return
        etag: str | None = None
        print_: str | None = None
        actors: tuple[str, ...] = ()
        if isinstance(entry, Item):
            _, print_, actors = self._read(entry)
            etag = entry.etag
        with store.writing(self.database) as connection:
            report.recorded += _upsert(connection, path, etag, print_, actors)

    def _publish(self, path: str, entry: Item, report: Report) -> None:
        with self.database.read() as connection:
            known = _known(connection, path)
        if known is not None and not known.deleted and known.etag == entry.etag:
            return
        article, print_, actors = self._read(entry)
        with store.writing(self.database) as connection:
            if known is None or known.deleted:
                if not _swap(connection, path, known, entry.etag, print_, actors):
                    return
                self._create(connection, article, actors, report)
                report.objects.append(path)
            elif known.fingerprint is None or known.fingerprint == print_:
                _swap(connection, path, known, entry.etag, print_, actors)  # nothing followers see changed
            else:
                if not _swap(connection, path, known, entry.etag, print_, actors):
                    return
                self._update(connection, article, known.actors, actors, entry.etag, report)

    def _delete(self, path: str, directory: Directory, report: Report) -> None:
        with store.writing(self.database) as connection:
            known = _known(connection, path)
            if known is None or known.deleted or not _swap(connection, path, known, known.etag, known.fingerprint, known.actors, True):
                return
            inboxes = self._inboxes(connection, list(known.actors))
            body = dumps(documents.delete(directory.site, urls.absolute(self.config.site_url, path)))
            report.deliveries += store.enqueue(connection, SITE, body, sorted(inboxes))
            report.deleted += 1

    def _create(self, connection: Connection, article: dict[str, Any], actors: tuple[str, ...], report: Report) -> None:
        by_inbox = self._inboxes(connection, list(actors))
        covered: dict[str, set[str]] = {inbox: set() for inbox in by_inbox}
        self._create_for_site(connection, article, by_inbox, covered, report)
        report.created += 1
        self._announce(connection, article, [a for a in actors if a != SITE], by_inbox, covered, report)

    def _create_for_site(
        self, connection: Connection, article: dict[str, Any], by_inbox: Inboxes, covered: dict[str, set[str]], report: Report
    ) -> None:
        """Send the Create to every inbox where it reaches a follower of the site not reached yet."""
        inboxes = sorted(inbox for inbox, who in by_inbox.items() if who.get(SITE, set()) - covered.setdefault(inbox, set()))
        report.deliveries += store.enqueue(connection, SITE, dumps(documents.create(article)), inboxes)
        for inbox in inboxes:
            covered[inbox] |= by_inbox[inbox][SITE]

    def _update(
        self, connection: Connection, article: dict[str, Any], old: tuple[str, ...], new: tuple[str, ...], etag: str, report: Report
    ) -> None:
        """Update every inbox that has the post; reach the followers of accounts it gained; take back the boosts of tags it lost."""
        by_inbox = self._inboxes(connection, list(dict.fromkeys(old + new)))
        told = sorted(inbox for inbox, who in by_inbox.items() if any(who.get(actor) for actor in old))
        report.deliveries += store.enqueue(connection, SITE, dumps(documents.update(article, etag.strip('"')[:12])), told)
        report.updated += 1
        covered = {inbox: set().union(*(who.get(actor, set()) for actor in old)) for inbox, who in by_inbox.items()}
        if SITE in new and SITE not in old:
            self._create_for_site(connection, article, by_inbox, covered, report)
        self._announce(connection, article, [a for a in new if a not in old and a != SITE], by_inbox, covered, report)
        site_id = urls.absolute(self.config.site_url, SITE)
        for actor in (a for a in old if a not in new and a != SITE):
            inboxes = sorted(inbox for inbox, who in by_inbox.items() if who.get(actor))
            actor_id = urls.absolute(self.config.site_url, actor)
            body = dumps(documents.undo_announce(actor_id, site_id, article["id"], article["published"]))
            report.deliveries += store.enqueue(connection, actor, body, inboxes)
            report.undone += 1 if inboxes else 0

    def _announce(
        self,
        connection: Connection,
        article: dict[str, Any],
        actors: list[str],
        by_inbox: Inboxes,
        covered: dict[str, set[str]],
        report: Report,
    ) -> None:
        """Boost the post by each tag account, to the inboxes where it reaches someone not reached yet."""
        targets: dict[str, list[str]] = defaultdict(list)
        for inbox, who in by_inbox.items():
            seen = covered.setdefault(inbox, set())
            for actor in sorted(actors, key=lambda a: (-len(who.get(a, set()) - seen), a)):
                fresh = who.get(actor, set()) - seen
                if fresh:
                    targets[actor].append(inbox)
                    seen |= fresh
        site_id = urls.absolute(self.config.site_url, SITE)
        for actor in actors:
            if targets.get(actor):
                body = dumps(documents.announce(urls.absolute(self.config.site_url, actor), site_id, article["id"], article["published"]))
                report.deliveries += store.enqueue(connection, actor, body, sorted(targets[actor]))
                report.announced += 1

    def _inboxes(self, connection: Connection, actors: list[str]) -> Inboxes:
        """Inbox → our actor → its followers there, leaving out blocked domains."""
        out: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for follower in store.followers_for(connection, actors):
            if not self.policy.blocks(store.host_of(follower.inbox).rsplit(":", 1)[0]):
                out[follower.inbox][follower.actor].add(follower.follower)
        return out


def _known(connection: Connection, path: str) -> Known | None:
    query = text("SELECT etag, fingerprint, actors, deleted FROM fediverse_objects WHERE object = :o")
    row = connection.execute(query, {"o": path}).first()
    if row is None:
        return None
    return Known(row[0], row[1], tuple(unquote(a) for a in str(row[2]).split()), bool(row[3]))


def _actors(actors: Iterable[str]) -> str:
    """The ``actors`` column: the paths, percent-encoded (a tag's slug may hold a space), space-separated."""
    return " ".join(urls.quote_path(a) for a in actors)


def _upsert(connection: Connection, path: str, etag: str | None, print_: str | None, actors: Iterable[str]) -> int:
    values = {"o": path, "e": etag, "f": print_, "a": _actors(actors), "at": store.now_ms()}
    return int(
        connection.execute(
            text(
                "INSERT INTO fediverse_objects (object, etag, fingerprint, actors, deleted, changed_at) VALUES (:o, :e, :f, :a, 0, :at)"
                " ON CONFLICT (object) DO NOTHING"
            ),
            values,
        ).rowcount
    )


def _swap(
    connection: Connection,
    path: str,
    known: Known | None,
    etag: str | None,
    print_: str | None,
    actors: Iterable[str],
    deleted: bool = False,
) -> bool:
    """Compare and set a post's row; False when another process changed it first (it sends what is needed)."""
    if known is None:
        return _upsert(connection, path, etag, print_, actors) == 1
    values = {
        "o": path,
        "e": etag,
        "f": print_,
        "a": _actors(actors),
        "d": int(deleted),
        "at": store.now_ms(),
        "old_e": known.etag or "",
        "old_d": int(known.deleted),
    }
    result = connection.execute(
        text(
            "UPDATE fediverse_objects SET etag = :e, fingerprint = :f, actors = :a, deleted = :d, changed_at = :at"
            " WHERE object = :o AND COALESCE(etag, '') = :old_e AND deleted = :old_d"
        ),
        values,
    )
    return bool(result.rowcount)

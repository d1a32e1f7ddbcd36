"""Every URL and path the service hands out, built in one place.

Paths inside the service are Unicode (a tag slug may be ``café`` or ``日本語``);
whatever leaves it — documents, HTTP headers, WebSub topics, HTML, OPML —
goes through :func:`quote_path` and so is a valid URI (RFC 3986), and static
file or object names come from :func:`file_name`. A scope's archives (RFC 5005
§4) live under a path, not a query (``/tags/go/archive/2/feed.xml``), so a
static host or an object store serves the same layout as the app with no
rewrite rule.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote, unquote, urljoin, urlsplit

#: Characters that may stay as they are in a URI path (RFC 3986 §3.3: pchar and "/"),
#: besides letters, digits and "_.-~", which ``quote`` never escapes.
_PATH_SAFE = "/!$&'()*+,;=:@"
#: The path segment of each kind of scope but the site: ``/tags/<slug>/``, ``/authors/<slug>/``, …
KINDS = {"tag": "tags", "author": "authors", "section": "sections", "language": "languages"}
_PREFIX = r"(?P<prefix>/(?:(?:" + "|".join(KINDS.values()) + r")/[^/]+/)?)"
_ARCHIVE_PATH = re.compile(_PREFIX + r"archive/(?P<number>[1-9][0-9]{0,8})/(?P<name>[^/]+)$")
_PAGE_PATH = re.compile(_PREFIX + r"page/(?P<number>[0-9]{1,9})/(?P<name>[^/]+)$")
_FEED_PATH = re.compile(_PREFIX + r"(?P<name>[^/]+)$")

#: The prefix of the site-wide feeds; a tag's is ``/tags/<slug>/``.
SITE = "/"


def quote_path(path: str) -> str:
    """Percent-encode a Unicode path so it is a valid URI path (``/tags/café/`` → ``/tags/caf%C3%A9/``)."""
    return quote(path, safe=_PATH_SAFE)


def absolute(site_url: str, path: str) -> str:
    """Return the absolute URI of a site ``path`` under ``site_url`` (which has no trailing slash)."""
    return site_url + quote_path(path)


def absolute_or_as_is(site_url: str, url_or_path: str) -> str:
    """Return a site path (``/static/icon.png``) as an absolute URI; any other URL as it is."""
    if url_or_path.startswith("/") and not url_or_path.startswith("//"):
        return absolute(site_url, url_or_path)
    return url_or_path


def tag_prefix(slug: str) -> str:
    """Return the path under which a tag's pages and feeds live."""
    return f"/tags/{slug}/"


def scope_prefix(kind: str, slug: str) -> str:
    """Return the path of a scope: ``/`` for the site, ``/authors/<slug>/`` for an author, …"""
    return SITE if kind == "site" else f"/{KINDS[kind]}/{slug}/"


def list_path(kind: str) -> str:
    """Return the path of the HTML list of every scope of a kind (``/tags/``)."""
    return f"/{KINDS[kind]}/"


def feed_path(prefix: str, filename: str, archive: int | None = None) -> str:
    """Return the path of a scope's current feed ``filename``, or of its archive ``archive``: ``/tags/go/archive/2/atom.xml``."""
    return prefix + filename if archive is None else f"{prefix}archive/{archive}/{filename}"


def split_feed_path(path: str) -> tuple[str, str, int | None] | None:
    """Return (prefix, file name, archive number or None) of a feed path, or None; the inverse of :func:`feed_path`."""
    match = _ARCHIVE_PATH.match(path)
    if match is not None:
        return match["prefix"], match["name"], int(match["number"])
    match = _FEED_PATH.match(path)
    return (match["prefix"], match["name"], None) if match is not None else None


def split_page_path(path: str) -> tuple[str, str, int] | None:
    """Return (prefix, file name, page) of an old ``/page/<n>/<file>`` path (numbered from the newest), or None."""
    match = _PAGE_PATH.match(path)
    return (match["prefix"], match["name"], int(match["number"])) if match is not None else None


def site_path(site_url: str, url: str) -> str | None:
    """Return the path of ``url`` on the site (decoded, as the service names documents), or None if it is elsewhere."""
    if not url.startswith(site_url + "/"):
        return None
    return unquote(urlsplit(url[len(site_url) :]).path)


def file_name(path: str) -> str:
    """Return the static file (or object key) that holds ``path``: ``/tags/go/`` → ``tags/go/index.html``."""
    return (path + "index.html" if path.endswith("/") else path).lstrip("/")


def join(url: str, base_url: str) -> str:
    """Resolve ``url`` against ``base_url`` unless it already has a scheme."""
    url = url.strip()
    if not url or urlsplit(url).scheme:
        return url
    return urljoin(base_url, url)


# -- fediverse ------------------------------------------------------------------------------
# Every fediverse path is under /ap/ (besides /.well-known/webfinger and /.well-known/nodeinfo):
# behind a bucket and a CDN, these are the paths that must reach an app host.

#: The prefix of every fediverse document and endpoint.
AP = "/ap"
#: The shared inbox of every account (one delivery per remote server, Mastodon's sharedInbox).
SHARED_INBOX = "/ap/inbox"
#: The NodeInfo 2.1 document (linked from /.well-known/nodeinfo).
NODEINFO = "/ap/nodeinfo/2.1"


def actor_path(tag_slug: str | None) -> str:
    """The path of the site's actor (``None``) or of a tag's: stable ids, independent of the account names."""
    return f"{AP}/site" if tag_slug is None else f"{AP}/tags/{tag_slug}"


def object_path(post_id: str) -> str:
    """The path of a post's ActivityStreams object: named by the post's permanent id, so a renamed post keeps it."""
    return f"{AP}/objects/{hashlib.sha256(post_id.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"


def outbox_path(actor: str, page: int | None = None) -> str:
    """The path of an actor's outbox (``page=None``: the collection) or of one of its pages (1 = newest)."""
    return f"{actor}/outbox" if page is None else f"{actor}/outbox/page/{page}"

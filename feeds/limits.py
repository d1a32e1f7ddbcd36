"""Every bound on input the service applies: sizes, counts, depths and times, by name.

Shared vocabulary (imported by every stage, importing nothing of the package): the
manual's Limits page (docs/limits.md) lists each with why it is what it is. A
bound an operator may want to move is a setting instead (``max_file_size``,
``git_timeout``, the poll limits…; see the settings reference).
"""

from __future__ import annotations

# -- Content files -------------------------------------------------------------------------

#: Characters in one tag name; a longer tag is dropped with a warning.
MAX_TAG_LENGTH = 100
#: Tags one post may have; the ones after it are dropped with a warning naming the file and line.
#: Each tag is a feed in three formats, a browser view and a page that all repeat the post: 5,000
#: tags on one post made 25,254 documents (5.3 GB) and a 188 s first publish (issue 15.2).
MAX_TAGS_PER_POST = 50
#: Values the YAML aliases of one front matter may add to it once expanded (each scalar counts its length
#: in characters plus one, each list or mapping one): front matter that would grow by more is refused
#: before it is built (so is an alias to a value that holds it). Nine levels of nine aliases make 387
#: million strings out of 500 bytes.
MAX_YAML_EXPANSION = 100_000
#: Nesting depth of front matter (lists and mappings within each other).
MAX_YAML_DEPTH = 32

#: Folders of the content tree the builder watches for changes (one inotify watch each); past it, the
#: periodic scan alone finds changes. Linux allows 8,192 to 1,048,576 watches per user, shared with every program.
MAX_WATCHED_FOLDERS = 10_000

# -- Settings -------------------------------------------------------------------------------

#: Posts one feed document (a current feed, an archive) may hold: ``items_per_feed`` site-wide, for tag
#: and author feeds and per section. Every one of them is in three formats and a browser view.
MAX_ITEMS_PER_FEED = 1000
#: Entries of the ``redirects`` table: each is a lookup at every 404 and a line of the export's nginx map.
MAX_REDIRECTS = 10_000

# -- Problems reported about the content ----------------------------------------------------

#: Characters of one problem message (`path:line: message` adds the path): what was wrong,
#: with at most a short cut of the value at fault, never all of it.
MAX_PROBLEM_MESSAGE = 300
#: Characters of a value quoted in a problem message (cut with "…").
MAX_QUOTED_VALUE = 60
#: Problems reported for one file; the rest are counted in one last warning.
MAX_PROBLEMS_PER_FILE = 20
#: Problems (and kept posts) a snapshot's manifest, /healthz and the log list; the rest are counted
#: (`problems_omitted`), errors listed before warnings. `feeds check` prints all of them.
MAX_PROBLEMS_LISTED = 100
#: Characters of a kept post's title as /healthz lists it.
MAX_TITLE_SHOWN = 200

# -- Rendering ------------------------------------------------------------------------------

#: Characters of a summary taken from the body's first paragraph.
SUMMARY_LIMIT = 600

# -- HTTP -----------------------------------------------------------------------------------

#: The largest webhook body read (GitHub caps push payloads at 25 MB; a blog's push is a few KB).
MAX_WEBHOOK_BODY = 1 << 20
#: Characters of a webhook delivery id (GitHub's and Gitea's are 36-character UUIDs); a longer one is not remembered.
MAX_DELIVERY_ID = 200
#: How long a webhook delivery is remembered (by its id and the digest of its signed body), in seconds:
#: a replay within it is answered without a rescan. GitHub lets a delivery be redelivered for 3 days.
DELIVERY_WINDOW = 7 * 24 * 3600
#: Deliveries remembered per host (one empty file per id or body digest); past it the oldest are forgotten first.
MAX_DELIVERIES = 10_000
#: How long a request that arrives before this host ever published waits for the first snapshot, in seconds.
FIRST_WAIT = 10.0
#: Rate-limit windows kept per table (about 330 bytes each, so 3.3 MB at most); beyond it the oldest is dropped.
MAX_TRACKED = 10_000
#: Answers the in-memory replay cache keeps per snapshot; clients choose If-None-Match values, so bound it.
REPLAY_ENTRIES = 4096


# -- Fediverse: what remote servers may send us ----------------------------------------------

#: Bytes of one activity POSTed to an inbox; a longer body is refused with 413 before it is parsed.
#: Mastodon's own limit on what it fetches is 1 MiB; a Follow is about 300 bytes, a long reply 10 KB.
MAX_INBOX_BODY = 256 * 1024
#: Bytes of a remote actor document (or any JSON) we fetch; a longer answer is not read.
MAX_FETCHED_BODY = 1 << 20
#: Nesting depth of a JSON document we accept (inbox bodies and fetched actors): ActivityStreams needs about 5.
MAX_JSON_DEPTH = 32
#: Seconds a signed request's Date may lie in the past: Fedify's default window (Mastodon allows 12 hours).
#: A delivery is signed when it is sent, so retries are signed again and never go stale.
SIGNATURE_MAX_AGE = 3600
#: Seconds a signed request's Date may lie in the future (clock skew between servers).
SIGNATURE_MAX_FUTURE = 300
#: Characters of a Signature header (a keyId, four header names and a 4096-bit signature take about 900).
MAX_SIGNATURE_HEADER = 4096
#: Characters of a URL we accept from a remote document (a keyId, an actor, an inbox).
MAX_REMOTE_URL = 2048
#: Characters of a remote public key in PEM form (an RSA-8192 key is about 1,500).
MAX_PUBLIC_KEY_PEM = 8192
#: Seconds a fetched remote key is trusted before it is fetched again.
KEY_CACHE_SECONDS = 24 * 3600
#: Seconds after a fetch before a signature failing with that key fetches it again: keys rotate, but a forger
#: must not make us fetch at will.
KEY_REFETCH_SECONDS = 60
#: Requests one remote host may make to our inboxes per minute, per worker; more get 429.
INBOX_RATE_PER_MINUTE = 600
#: Requests one remote host may make in a burst before INBOX_RATE_PER_MINUTE applies.
INBOX_BURST = 120
#: Remote hosts whose rate each worker tracks; past it the least recently seen is forgotten.
INBOX_RATE_HOSTS = 10_000

# -- Fediverse: what we send --------------------------------------------------------------------

#: Seconds to connect to a remote server, on every request we make.
CONNECT_TIMEOUT = 5.0
#: Seconds to wait for a remote server's answer (and to read it), on every request we make.
REQUEST_TIMEOUT = 15.0
#: Redirects followed when fetching a remote document (each hop is checked against SSRF again).
MAX_FETCH_REDIRECTS = 3
#: How long a delivery is retried (exponential backoff) before it is dropped with a log line: two days.
DELIVERY_RETRY_SECONDS = 2 * 24 * 3600
#: Seconds before the first retry of a delivery; doubled at each attempt.
DELIVERY_FIRST_RETRY = 30.0
#: The longest wait between two attempts of a delivery, in seconds.
DELIVERY_MAX_RETRY = 6 * 3600.0
#: Requests in flight to one remote host at once (a shared inbox takes a whole server's followers).
DELIVERY_PER_HOST = 2
#: Threads that deliver in the one delivering process.
DELIVERY_THREADS = 32
#: Deliveries read from the queue at once.
DELIVERY_BATCH = 256
#: Seconds the delivering process holds its database lease; it renews it every third of that.
#: A crashed deliverer is replaced after at most this long.
DELIVERY_LEASE_SECONDS = 30.0


def cut(text: str, limit: int) -> str:
    """Return ``text``, or its first ``limit`` characters and "…" when it is longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quoted(value: object, limit: int = MAX_QUOTED_VALUE) -> str:
    """Show a value in a message, bounded: text quoted and cut, a list, mapping or bytes only by kind and size."""
    if isinstance(value, list | tuple | dict | set | frozenset | bytes):
        return f"a {type(value).__name__} of {len(value):,} items"
    if isinstance(value, str):
        return repr(cut(value, limit))
    return cut(repr(value), limit)  # a number, a date, None: short


# -- Subscriber counting (feeds.stats) -------------------------------------------------------

#: Characters of a User-Agent read for counting: a longer one is cut before it is matched and hashed.
MAX_USER_AGENT = 512
#: Distinct (feed URL, User-Agent, client) a worker keeps in memory between two writes to the database
#: (~400 bytes each, so ~8 MB at most); the polls of further ones are dropped and counted
#: (``feeds_subscriber_polls_dropped``). At half of it the worker writes early.
MAX_PENDING_POLLS = 20_000
#: Largest subscriber count one aggregator's report is believed for; a larger one counts as this.
MAX_REPORTED_SUBSCRIBERS = 10_000_000
#: Characters of an aggregator's own feed id kept (a longer one is cut).
MAX_FEED_ID = 64
#: Feed ids of one aggregator counted per feed and format (the most recently reported): a client
#: that forges one User-Agent per made-up feed id adds at most this many reports.
MAX_FEED_IDS = 16


# -- Podcasts and the media folder (issue 20) ------------------------------------------------

#: Files served from the media folder; past it the rest are left out and reported (each is hashed once and is a manifest row).
MAX_MEDIA_FILES = 10_000
#: Largest media file served, in bytes (8 GiB: a long episode in video); a bigger one is left out and reported.
MAX_MEDIA_FILE_SIZE = 8 << 30
#: Folder depth inside the media folder; deeper folders are not walked (and reported).
MAX_MEDIA_DEPTH = 8
#: Byte ranges one request may ask for; a Range header with more is ignored (a 200 with the whole file, as RFC 9110 §14.2 allows).
MAX_RANGES = 16
#: Transcripts one episode may list.
MAX_TRANSCRIPTS = 8
#: Funding links one show may list.
MAX_FUNDING = 8
#: Bytes of an image read to find its width and height (a JPEG's frame header may follow large metadata).
MAX_IMAGE_HEADER = 256 << 10

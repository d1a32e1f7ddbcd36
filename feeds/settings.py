"""Every setting as data: its name, default, help text (Markdown, for the manual) and parser.

``feeds.config`` loads them (``feeds.toml`` < ``FEEDS_<KEY>`` environment < explicit
overrides) into a ``Config``; ``docs/hooks.py`` writes the manual's settings reference
from this table, so a setting cannot go undocumented.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from feeds.gitremote import check_branch
from feeds.limits import MAX_ITEMS_PER_FEED
from feeds.options import as_feed_content, as_redirects, as_sections, as_tags, scope_options
from feeds.parsers import (
    as_account_name,
    as_author,
    as_bool,
    as_choice,
    as_content_dir,
    as_host_list,
    as_language,
    as_networks,
    as_optional_command,
    as_optional_database_url,
    as_optional_http_url,
    as_optional_path,
    as_optional_s3_url,
    as_optional_secret,
    as_optional_string,
    as_optional_url,
    as_permalink,
    as_positive_int,
    as_private_allow_list,
    as_string,
    as_timezone,
    as_url,
    as_url_list,
)
from feeds.podcast import as_podcast


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    #: Turns a raw value (from TOML, or a string from the environment) into the typed one.
    parse: Callable[[Any], Any]


SETTINGS: tuple[Setting, ...] = (
    Setting("site_url", "http://127.0.0.1:8000", "Public base URL of the site; every link in a feed is absolute against it.", as_url),
    Setting("title", "feeds", "Site title, the title of the overall feeds.", as_string),
    Setting("description", "Posts from this site.", "One-line description of the site.", as_string),
    Setting("language", "en", "BCP 47 language tag of the content (`en`, `en-US`; not `en_US`).", as_language),
    Setting("author", {"name": "feeds"}, "Site author `{name, email, url}`: the author of posts that name none.", as_author),
    Setting("timezone", "UTC", "IANA time zone for naive dates in front matter.", as_timezone),
    Setting(
        "content_dir",
        "content",
        "Folder of Markdown posts (relative to the working directory), or a git remote: `git+https://host/blog.git`,"
        " `git+ssh://git@host/blog.git`, `file:///srv/blog.git`, with an optional `#branch`, `#branch:folder` or `#:folder`.",
        as_content_dir,
    ),
    Setting(
        "permalink",
        "/posts/{slug}/",
        "Post URL pattern: a path under `site_url` (the service serves each post's page there) or an absolute URL on the host "
        "where the blog lives (no post pages; items link there): `{slug}`, `{year}`, `{month}`, `{day}`.",
        as_permalink,
    ),
    Setting(
        "items_per_feed",
        20,
        "Posts in each current feed and in each of its archives (RFC 5005); "
        "`[tag_feeds]`, `[author_feeds]` and `[sections.<slug>]` override it.",
        as_positive_int(1, MAX_ITEMS_PER_FEED),
    ),
    Setting(
        "feed_content",
        "full",
        "What feed items carry: `full` (the body) or `summary` (summary, link and image; no body); overridable like `items_per_feed`.",
        as_feed_content,
    ),
    Setting("tag_feeds", {}, "Table `{items_per_feed, feed_content}` for every tag's feeds.", scope_options("tag_feeds")),
    Setting("author_feeds", {}, "Table `{items_per_feed, feed_content}` for every author's feeds.", scope_options("author_feeds")),
    Setting(
        "sections",
        {},
        "Tables `[sections.<slug>]` for the first-level folders: `title`, `description`, `items_per_feed`, `feed_content`, "
        "`site_feeds` (`false`: kept out of the site-wide feeds), `podcast` (the section is its own show).",
        as_sections,
    ),
    Setting(
        "tags",
        {},
        "Tables `[tags.<slug>]` for one tag's feeds: `items_per_feed` and `feed_content` (over `[tag_feeds]`), "
        "`podcast` (the tag is its own show).",
        as_tags,
    ),
    Setting(
        "podcast",
        None,
        "The site's feeds as a podcast show: a `[podcast]` table (`category`, `explicit`, `owner`, `author`, `image`, `type`, "
        "`locked`, `funding`, `guid`, `complete`, `new_feed_url`); a section or a tag is its own show with the same table as "
        "`[sections.<slug>.podcast]` or `[tags.<slug>.podcast]`. See [Podcasts](podcasts.md).",
        as_podcast,
    ),
    Setting(
        "redirects",
        {},
        'Table of moved and removed paths: `"/old/feed.xml" = "/feed.xml"` (301) or `"gone"` (410); also in exports and buckets.',
        as_redirects,
    ),
    Setting(
        "scan_interval",
        60,
        "Seconds between content scans (and git fetches); also the feeds' `Cache-Control` max-age.",
        as_positive_int(1, 86400),
    ),
    Setting(
        "watch",
        True,
        "Publish a change of the content folder as soon as the file is written (Linux inotify events); the scan every "
        "`scan_interval` stays as a safety net. `false`: only the scans find changes (a folder on a network file system).",
        as_bool,
    ),
    Setting(
        "max_file_size", 1024 * 1024, "Largest post file read, in bytes; larger ones are skipped and reported.", as_positive_int(1, 1 << 30)
    ),
    Setting("websub_hubs", [], "WebSub hub URLs to announce and ping when feeds change.", as_url_list),
    Setting("rebuild_token", None, "Bearer token that enables `POST /-/rebuild`; off when unset.", as_optional_string),
    Setting(
        "icon",
        "/static/icon-512.png",
        "Square icon URL or site path, 512×512 (JSON Feed `icon`, RSS `<image>`, Atom `logo`).",
        as_optional_url,
    ),
    Setting(
        "favicon",
        "/static/favicon-64.png",
        "Small square icon URL or site path, 64×64 (JSON Feed `favicon`, Atom `icon`).",
        as_optional_url,
    ),
    Setting(
        "cache_dir",
        None,
        "Folder for rendered post HTML, keyed by source, so a restart renders nothing again (default: `snapshot_dir/render`).",
        as_optional_path,
    ),
    Setting("log_format", "kv", "Log line format: `kv` (key=value) or `json`.", as_choice("kv", "json")),
    Setting(
        "snapshot_dir",
        None,
        "Folder where the one builder per host publishes the snapshot for every worker"
        " (default: a private folder in the system temp dir, keyed by content folder and settings).",
        as_optional_path,
    ),
    Setting(
        "worker_header", False, "Add `X-Feeds-Worker: <pid>` to every response, to see which worker answered (tests, debugging).", as_bool
    ),
    Setting(
        "iframe_hosts",
        [],
        "Hosts whose `<iframe>` embeds posts keep (`www.youtube-nocookie.com`); other iframes are removed.",
        as_host_list,
    ),
    Setting(
        "memory_cache_mb",
        16,
        "MiB of answers each worker keeps in memory for repeated requests (the hot feeds); `0` turns it off.",
        as_positive_int(0, 4096),
    ),
    Setting(
        "poll_limit",
        120,
        "Full answers (not 304) one client gets for one feed URL per `poll_window`, per worker; more get 429 with `Retry-After`. `0`: off.",
        as_positive_int(0, 1_000_000),
    ),
    Setting("poll_window", 60, "Seconds over which `poll_limit` and `rebuild_failure_limit` are counted.", as_positive_int(1, 86400)),
    Setting(
        "rebuild_failure_limit",
        10,
        "Wrong-token `POST /-/rebuild` per client per `poll_window`, per worker; more get 429 before the token is compared. `0`: off.",
        as_positive_int(0, 1_000_000),
    ),
    Setting(
        "trusted_proxies",
        ["127.0.0.1", "::1"],
        "Proxies (addresses or CIDRs) whose `X-Forwarded-For` names the client; the right-most address not in them is the client."
        ' Set it to your proxy\'s address when nginx runs elsewhere; `""` trusts none.',
        as_networks,
    ),
    Setting(
        "content_branch",
        "main",
        "Branch to build from when `content_dir` is a git remote without a `#branch` suffix.",
        lambda value: check_branch(as_string(value).strip()),
    ),
    Setting(
        "webhook_secret",
        None,
        "Shared secret, 16 characters or more, that lets `POST /-/rebuild` accept signed push webhooks"
        " (GitHub, Gitea, Forgejo, GitLab); off when unset.",
        as_optional_secret,
    ),
    Setting("git_timeout", 60, "Seconds one git command (a fetch, a checkout) may take before it is stopped.", as_positive_int(1, 3600)),
    Setting(
        "publish_url", None, "Bucket `feeds publish` copies the snapshot to (`s3://bucket/prefix`); off when unset.", as_optional_s3_url
    ),
    Setting(
        "publish_endpoint",
        None,
        "S3 API endpoint for a store other than AWS (default: boto3's own, from `AWS_ENDPOINT_URL` or the AWS config).",
        as_optional_http_url,
    ),
    Setting(
        "publish_region", None, "Region of the bucket (default: boto3's own, from `AWS_REGION` or the AWS config).", as_optional_string
    ),
    Setting(
        "publish_purge_command",
        None,
        "Command run after each publish that changed something, with the changed absolute URLs on stdin, one a line (CDN purge).",
        as_optional_command,
    ),
    Setting(
        "publish_purge_url",
        None,
        'URL POSTed `{"urls": [...]}` with the changed absolute URLs after each publish that changed something (CDN purge hook);'
        " credentials in the URL are refused.",
        as_optional_http_url,
    ),
    Setting(
        "publish_on_rebuild",
        False,
        "Publish to `publish_url` after every complete rebuild, from the host's builder; enable it on one host only.",
        as_bool,
    ),
    Setting(
        "database_url",
        None,
        "Database of subscriber counts and fediverse state: `sqlite:///PATH`, or `postgresql://USER:PASSWORD@HOST/DATABASE` "
        "for several hosts (default: `feeds.db` in `snapshot_dir`).",
        as_optional_database_url,
    ),
    Setting(
        "stats",
        True,
        "Count subscribers per feed (aggregators' reports, direct readers, fediverse followers); `false`: none. "
        "See [Subscriber counts](subscribers.md).",
        as_bool,
    ),
    Setting(
        "stats_token",
        None,
        "Bearer token (or Basic password) for `/-/stats` and `/-/stats.json`; the `rebuild_token` works too.",
        as_optional_secret,
    ),
    Setting(
        "stats_retention", 400, "Days of daily subscriber history kept; older days are summarised by month.", as_positive_int(90, 36500)
    ),
    Setting("stats_flush_interval", 30, "Seconds between each worker's writes of its counts to the database.", as_positive_int(1, 3600)),
    Setting(
        "fediverse",
        False,
        "Make the site and every tag fediverse accounts that Mastodon users follow (needs the database). See [Fediverse](fediverse.md).",
        as_bool,
    ),
    Setting("fediverse_name", "blog", "User name of the site's fediverse account (`@<name>@<site host>`).", as_account_name),
    Setting(
        "fediverse_allowed_private",
        [],
        "Private, loopback or link-local addresses, networks or host names that fediverse fetches and deliveries may reach "
        "(every other one is refused, against SSRF).",
        as_private_allow_list,
    ),
    Setting(
        "fediverse_blocked_domains",
        [],
        "Domains (and their subdomains) whose servers may not follow, deliver to or be delivered to by the fediverse accounts.",
        as_host_list,
    ),
)

SETTINGS_BY_NAME = {setting.name: setting for setting in SETTINGS}

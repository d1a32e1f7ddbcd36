"""A synthetic blog, the same bytes on every run: the site of the benchmarks and of the tests that need many posts.

``python -m bench site N OUT [--seed 1]`` writes one from the command line; the
benchmarks (``bench/``) and tests (``tests/test_builder.py``) call :func:`generate`.
The sample blog is ``content/`` and the bad-content corpus ``tests/corpus.py``.

Writes ``N`` Markdown posts to ``OUT`` (created if missing) as
``OUT/YYYY-MM-DD-post-<i>.md`` for ``i`` in ``1..N``.  Each post has YAML
front matter (``title``, ``date``, ``summary``, ``tags``) followed by a body of
about 1,050 words (roughly 1,100 whitespace-separated tokens including code
and table cells, roughly 1,000 words of prose) that exercises the usual Markdown
features: ``##`` headings, paragraphs, bullet and numbered lists, a fenced code
block with a language tag, inline code, emphasis, absolute and relative links,
an image, a GFM pipe table and sometimes a block quote.

Determinism: all randomness comes from :class:`random.Random` instances seeded
from ``seed`` and the post number (string seeds are hashed with SHA-512 by
``random``, so ``PYTHONHASHSEED`` has no effect).  The same ``N`` and seed give
byte-identical files on every run; no clock, no ``hash()``, no set/dict-order
dependence.  Post ``i``'s content does not depend on ``N`` except for its date
(dates are spread evenly, oldest first, over about eight years ending on
2026-06-30) and the targets of its relative links (always within ``1..N``).

Existing files in ``OUT`` are overwritten but never deleted, so use a fresh
directory when comparing runs with different ``N``.

Pure standard library; 10,000 posts take about 10 seconds (mostly CPU). ``words``
makes shorter posts for tests; the default is what every benchmark figure was taken on.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import json
import os
import random
import sys
from array import array
from collections.abc import Sequence

END_DATE = dt.date(2026, 6, 30)
START_DATE = dt.date(2018, 7, 1)
SPAN_DAYS = (END_DATE - START_DATE).days

TARGET_WORDS = 1050
TARGET_JITTER = 25  # each post aims for TARGET_WORDS +/- this many words

# 50 tags, most popular first; popularity follows a Zipf-like curve so a few
# tags are huge and the tail is small.  Several need careful slugging/escaping.
TAGS: tuple[str, ...] = tuple(
    "Go|Kubernetes|Python|Observability|PostgreSQL|Distributed Systems|Security|AWS|Rust|Performance|Testing|"
    "CI/CD|Terraform|Kafka|Career|Databases|TypeScript|Incident Response|Linux|Pub/Sub|Machine Learning|"
    "Docker|gRPC|Networking|Redis|Open Source|SRE|Caching|GCP|Leadership|C++|Microservices|Prometheus|"
    "OpenTelemetry|Serverless|DNS|TLS|Node.js|GraphQL|SOC 2|Privacy|WebAssembly|C#|SQLite|Accessibility|"
    "Remote Work|.NET|Elixir|Hiring|Zig".split("|")
)
TAG_ZIPF_EXPONENT = 1.1
TAG_CUM_WEIGHTS: tuple[float, ...] = tuple(itertools.accumulate(1.0 / (rank + 1) ** TAG_ZIPF_EXPONENT for rank in range(len(TAGS))))

# Vocabulary, in three frequency bands (weight per word in parentheses).
FUNCTION_WORDS = (  # (12)
    "the the the a a an of of to to and and in in is is that it for on with as "
    "we we this be are was by or at from but not can when which our if"
).split()
COMMON_WORDS = (  # (3)
    "about after again all also always another any because before between both "
    "change clear could each early easy enough every few first good great hard "
    "here how just keep large last later less little long make many more most "
    "much must need never new next now often old only other over own part "
    "people point problem real really right same second should simple small "
    "some still such take than then there these they thing think those though "
    "through time under until very want way well what where while why work "
    "would year years your quite rather almost instead usually eventually "
    "finally however naïve trade-off"
).split()
TECH_WORDS = (  # (1)
    "latency throughput cache cluster node pod container deployment service "
    "request response queue topic partition consumer producer broker schema "
    "migration index query transaction replica leader follower shard tenant "
    "config flag rollout rollback canary release pipeline build artifact "
    "binary compiler runtime allocator heap stack thread goroutine scheduler "
    "kernel socket packet buffer stream batch payload header token secret "
    "certificate handshake endpoint gateway proxy load balancer timeout retry "
    "backoff budget alert dashboard metric trace span log sample histogram "
    "percentile error outage incident postmortem runbook pager on-call "
    "upgrade patch dependency module package library interface struct "
    "function closure callback handler middleware router parser encoder "
    "serializer database table column row key value store bucket object "
    "region zone failover backup snapshot restore checksum hash digest "
    "signature policy role permission audit compliance control review "
    "benchmark profile flame graph regression baseline capacity quota "
    "limit pressure memory disk network bandwidth cost invoice team "
    "engineer customer user feature bug test fixture mock staging "
    "production environment workflow job cron worker daemon agent sidecar "
    "operator controller reconciler webhook feed syndication markdown "
    "template renderer static site generator crawler indexer "
    "idempotent eventual consistency quorum lease lock mutex contention "
    "vectorized columnar compaction tombstone watermark checkpoint offset"
).split()


def _word_table(size: int = 1 << 16) -> tuple[str, ...]:
    """Weighted vocabulary expanded to ``size`` slots so that a uniformly random
    16-bit number picks a word with the right frequency (fast: no bisect)."""
    weighted = [(w, 12) for w in FUNCTION_WORDS] + [(w, 3) for w in COMMON_WORDS] + [(w, 1) for w in TECH_WORDS]
    total = sum(weight for _, weight in weighted)
    table: list[str] = []
    for word, weight in weighted:
        table.extend([word] * (weight * size // total))
    table.extend(itertools.islice(itertools.cycle(FUNCTION_WORDS), size - len(table)))
    return tuple(table)


WORD_TABLE: tuple[str, ...] = _word_table()
NOUNS: tuple[str, ...] = tuple(w for w in TECH_WORDS if "-" not in w)
ADJECTIVES: tuple[str, ...] = tuple(
    "boring|fast|slow|fragile|resilient|practical|hidden|accidental|incremental|surprising|minimal|painless|"
    "noisy|quiet|cheap|expensive|stateless|stateful|lazy|eager".split("|")
)
VERBING: tuple[str, ...] = tuple(
    "Scaling|Debugging|Migrating|Testing|Profiling|Securing|Shipping|Operating|Rewriting|Measuring|Caching|Untangling".split("|")
)

TITLE_TEMPLATES: tuple[str, ...] = tuple(
    "{Verbing} {T} {Noun}s: Lessons from {n} Years|Why We Moved Our {Noun} to {T}|"
    "A Practical Guide to {T} {Noun}s|{T} in Production: What Broke and What Didn't|"
    'Notes on {Noun} {Noun2}s & {T}|The "{Adj}" {Noun} Behind Our {T} Stack|{T} vs. {T2}: A Naïve Benchmark|'
    "How We Cut {Noun} Latency by {pct}% with {T}|{Verbing} {T} — Part {n}|"
    "What I Learned Running {T} for {n} Months|{Adj} {Noun}s: {Verbing} {T} the Hard Way|"
    "<{Noun}> Tags, Ampersands & Other {T} Surprises".split("|")
)

HEADINGS: tuple[str, ...] = tuple(
    "The Problem|What We Tried|Results|Lessons Learned|Trade-offs|How It Works|Measuring It|Rolling It Out|"
    "What Went Wrong|Configuration|Numbers|Open Questions|Prior Art|Design|Operating {T}|Setting Up {T}|"
    "Why {T}?|A Closer Look at the {Noun}".split("|")
)

EXTERNAL_LINKS: tuple[str, ...] = tuple(
    "https://go.dev/doc/effective_go|https://kubernetes.io/docs/concepts/|"
    "https://www.postgresql.org/docs/current/mvcc.html|https://www.rfc-editor.org/rfc/rfc9110|"
    "https://www.jsonfeed.org/version/1.1/|https://docs.python.org/3/library/asyncio.html|"
    "https://sre.google/sre-book/table-of-contents/|https://opentelemetry.io/docs/|"
    "https://en.wikipedia.org/wiki/Little%27s_law|https://github.com/example/example-repo/issues/42|"
    "https://example.com/search?q=tail+latency&lang=en".split("|")
)

IDENTIFIERS: tuple[str, ...] = tuple(
    "max_retries|ctx.Done()|SELECT 1|kubectl rollout undo|--dry-run|GOMAXPROCS|fsync()|Cache-Control|ETag|"
    "If-None-Match|p99|O(n log n)|Vec<u8>|__init__|tokio::spawn|time.Sleep|EXPLAIN ANALYZE|a < b && b > c|"
    "config.yaml|make bench".split("|")
)

CODE_SNIPPETS: tuple[tuple[str, str], ...] = (
    (
        "python",
        '''def @FN@(items: list[str]) -> dict[str, int]:
    """Count short items, skipping the sentinel."""
    counts: dict[str, int] = {}
    for item in items:
        if len(item) < @N@ and item != "@WORD@":
            counts[item] = counts.get(item, 0) + 1
    return counts''',
    ),
    (
        "go",
        """func @FN@(ctx context.Context, ch <-chan string) error {
	for i := 0; i < @N@; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case msg := <-ch:
			log.Printf("@WORD@ %d: %q", i, msg)
		}
	}
	return nil
}""",
    ),
    (
        "yaml",
        """apiVersion: apps/v1
kind: Deployment
metadata:
  name: @WORD@-@FN@
spec:
  replicas: @N@
  template:
    spec:
      containers:
        - name: @WORD@
          image: "registry.example.com/@WORD@:1.@N@.0"
          resources:
            limits: {cpu: "500m", memory: "256Mi"}""",
    ),
    (
        "bash",
        """#!/usr/bin/env bash
set -euo pipefail
for i in $(seq 1 @N@); do
  curl -fsS "https://staging.example.com/@WORD@?page=${i}" \\
    -H 'Accept: application/feed+json' > "/tmp/@FN@-${i}.json" && echo "ok ${i}"
done""",
    ),
    (
        "sql",
        """-- find slow @WORD@ rows
SELECT id, created_at, payload->>'@WORD@' AS @FN@
FROM events
WHERE created_at > now() - interval '@N@ days'
  AND status <> 'done'
ORDER BY created_at DESC
LIMIT @N@;""",
    ),
    (
        "json",
        """{
  "name": "@FN@",
  "retries": @N@,
  "tags": ["@WORD@", "bench"],
  "html": "<p>Tom &amp; Jerry</p>",
  "enabled": true
}""",
    ),
    (
        "rust",
        """fn @FN@(input: &[u8]) -> Result<usize, String> {
    let mut total = 0usize;
    for chunk in input.chunks(@N@) {
        if chunk.is_empty() || chunk[0] == b'#' {
            continue;
        }
        total += chunk.len();
    }
    Ok(total) // "@WORD@"
}""",
    ),
    (
        "typescript",
        """export async function @FN@(url: string): Promise<string[]> {
  const res = await fetch(url, { headers: { Accept: "application/json" } });
  if (!res.ok && res.status !== 304) {
    throw new Error(`@WORD@ failed: ${res.status}`);
  }
  const data: { items: { id: string }[] } = await res.json();
  return data.items.slice(0, @N@).map((i) => i.id);
}""",
    ),
)

TABLES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("Metric", "Before", "After", "Change"), "| --- | ---: | ---: | ---: |"),
    (("Option", "Default", "Notes"), "| :--- | :---: | --- |"),
    (("Region", "p50 (ms)", "p99 (ms)", "Errors"), "| --- | ---: | ---: | ---: |"),
    (("Step", "Owner", "Status"), "| --- | --- | --- |"),
)


def _yaml_str(value: str) -> str:
    """Return a double-quoted YAML scalar (JSON string syntax is valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def _cap(word: str) -> str:
    return word[:1].upper() + word[1:]


class PostWriter:
    """Generates the text of one post from its own RNG."""

    def __init__(self, rng: random.Random, index: int, total: int, words: int = TARGET_WORDS) -> None:
        self.rng = rng
        self.index = index
        self.total = total
        self.target = words

    # -- small pieces -----------------------------------------------------

    def randint(self, lo: int, hi: int) -> int:
        """Like ``Random.randint`` but cheaper (this is the hot path)."""
        return lo + int(self.rng.random() * (hi - lo + 1))

    def words(self, n: int) -> list[str]:
        idx = array("H")
        idx.frombytes(self.rng.randbytes(2 * n))
        if sys.byteorder == "big":  # keep output independent of the platform
            idx.byteswap()
        return list(map(WORD_TABLE.__getitem__, idx))

    def other_post(self) -> int:
        if self.total <= 1:
            return self.index
        j = self.rng.randint(1, self.total - 1)
        return j if j < self.index else j + 1

    def decorate(self, word: str, kind: str) -> str:
        rng = self.rng
        if kind == "em":
            return f"*{word}*"
        if kind == "strong":
            return f"**{word}**"
        if kind == "code":
            return f"`{rng.choice(IDENTIFIERS)}`"
        if kind == "link":
            return f"[{word}]({rng.choice(EXTERNAL_LINKS)})"
        if kind == "rel":
            return f"[{word} {rng.choice(NOUNS)}](../post-{self.other_post()}/)"
        raise ValueError(kind)

    def sentence(self, lo: int = 8, hi: int = 22, force: str | None = None) -> list[str]:
        return self.finish(self.words(self.randint(lo, hi)), force)

    def finish(self, ws: list[str], force: str | None = None) -> list[str]:
        """Turn raw words into a sentence: capital, maybe a comma, maybe one
        inline decoration (emphasis, code, link), final punctuation."""
        rng = self.rng
        n = len(ws)
        ws[0] = _cap(ws[0])
        if n > 10 and rng.random() < 0.35:
            k = self.randint(3, n - 4)
            ws[k] += ","
        kind = force
        if kind is None:
            r = rng.random()
            if r < 0.05:
                kind = "em"
            elif r < 0.08:
                kind = "strong"
            elif r < 0.14:
                kind = "code"
            elif r < 0.16:
                kind = "link"
            elif r < 0.18:
                kind = "rel"
        if kind is not None:
            k = self.randint(1, n - 1)
            ws[k] = self.decorate(ws[k].rstrip(","), kind)
        ws[-1] += "?" if rng.random() < 0.04 else "."
        return ws

    def paragraph(self, budget: int, force: Sequence[str] = ()) -> tuple[str, int]:
        """Sentences of 8-22 words until ``budget`` words are reached (and all
        ``force``-d decorations are placed).  Words are drawn in one batch."""
        pool = self.words(budget + 22)
        pos = 0
        out: list[str] = []
        pending = list(force)
        while len(out) < budget or pending:
            n = self.randint(8, 22)
            if pos + n > len(pool):
                pool.extend(self.words(n + 22))
            out.extend(self.finish(pool[pos : pos + n], pending.pop() if pending else None))
            pos += n
        return " ".join(out), len(out)

    def fill(self, template: str, tag: str) -> str:
        rng = self.rng
        other = rng.choice(TAGS)
        if other == tag:
            other = TAGS[(TAGS.index(tag) + 1) % len(TAGS)]
        return template.format(
            T=tag,
            T2=other,
            Noun=_cap(rng.choice(NOUNS)),
            Noun2=rng.choice(NOUNS),
            Adj=_cap(rng.choice(ADJECTIVES)),
            Verbing=rng.choice(VERBING),
            n=rng.randint(2, 9),
            pct=rng.randint(12, 85),
        )

    # -- block elements ---------------------------------------------------

    def bullet_list(self) -> str:
        items = []
        for _ in range(self.rng.randint(3, 6)):
            ws = self.sentence(4, 12)
            if self.rng.random() < 0.3:
                ws.insert(0, f"**{_cap(self.rng.choice(NOUNS))}:**")
            items.append("- " + " ".join(ws))
        return "\n".join(items)

    def numbered_list(self) -> str:
        n = self.rng.randint(3, 5)
        return "\n".join(f"{k}. " + " ".join(self.sentence(5, 12, force="code" if k == 2 else None)) for k in range(1, n + 1))

    def code_block(self) -> str:
        rng = self.rng
        lang, body = rng.choice(CODE_SNIPPETS)
        fn = f"{rng.choice(('load', 'sync', 'drain', 'scan', 'fetch'))}_{rng.choice(NOUNS)}"
        if lang in ("go", "typescript"):  # camelCase there, snake_case elsewhere
            head, _, tail = fn.partition("_")
            fn = head + _cap(tail)
        body = body.replace("@FN@", fn).replace("@N@", str(rng.randint(2, 64))).replace("@WORD@", rng.choice(NOUNS))
        return f"```{lang}\n{body}\n```"

    def table(self) -> str:
        rng = self.rng
        header, align = rng.choice(TABLES)
        lines = ["| " + " | ".join(header) + " |", align]
        for _ in range(rng.randint(3, 5)):
            cells = [_cap(rng.choice(NOUNS)) + " " + rng.choice(NOUNS)]
            for _col in header[1:]:
                r = rng.random()
                if r < 0.6:
                    cells.append(f"{rng.randint(1, 9999):,}")
                elif r < 0.8:
                    cells.append(f"`{rng.choice(IDENTIFIERS).replace('|', '/')}`")
                else:
                    cells.append(" ".join(self.words(rng.randint(1, 3))))
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def image(self) -> str:
        rng = self.rng
        alt = f"Diagram of the {rng.choice(NOUNS)} {rng.choice(NOUNS)}"
        name = rng.choice(("architecture", "latency", "flow", "dashboard", "topology"))
        return f"![{alt}](/static/img/{name}-{rng.randint(1, 40)}.png)"

    def quote(self) -> str:
        return "> " + " ".join(self.sentence(10, 20))

    # -- whole post -------------------------------------------------------

    def render(self, date: dt.date) -> str:
        rng = self.rng
        tags: list[str] = []
        while len(tags) < 3:
            tag = TAGS[bisect.bisect_left(TAG_CUM_WEIGHTS, rng.random() * TAG_CUM_WEIGHTS[-1])]
            if tag not in tags:
                tags.append(tag)
        title = self.fill(rng.choice(TITLE_TEMPLATES), tags[0])
        summary = " ".join(self.sentence(12, 24))

        n_sections = rng.randint(4, 6)
        headings: list[str] = []
        for h in rng.sample(HEADINGS, len(HEADINGS)):
            text = self.fill(h, tags[rng.randrange(3)])
            if text not in headings:
                headings.append(text)
            if len(headings) == n_sections - 1:
                break
        headings.append(rng.choice(("Conclusion", "Wrapping Up", "Takeaways", "Next Steps")))

        # Which section gets which special block (lists, code, table, image).
        specials: list[list[str]] = [[] for _ in range(n_sections)]
        extra = ["bullets", "numbered", "code", "table", "image"]
        if rng.random() < 0.3:
            extra.append("code")
        if rng.random() < 0.4:
            extra.append("quote")
        for kind in extra:
            specials[rng.randrange(n_sections)].append(kind)

        special_text: list[list[str]] = []
        fixed_words = 0
        for sect in specials:
            texts = []
            for kind in sect:
                text = {
                    "bullets": self.bullet_list,
                    "numbered": self.numbered_list,
                    "code": self.code_block,
                    "table": self.table,
                    "image": self.image,
                    "quote": self.quote,
                }[kind]()
                texts.append(text)
                # Code and tables count half: then both len(body.split()) and
                # the prose-only word count land within a few % of the target.
                weight = 0.5 if kind in ("code", "table") else 1.0
                fixed_words += int(weight * len(text.split()))
            special_text.append(texts)
        fixed_words += sum(len(h.split()) + 1 for h in headings)

        # Paragraph layout: an intro, then 1-3 paragraphs per section.
        per_section = [rng.randint(1, 3) for _ in range(n_sections)]
        n_paras = 1 + sum(per_section)
        target = self.target + rng.randint(-TARGET_JITTER, TARGET_JITTER)
        remaining = max(target - fixed_words, 40 * n_paras)
        # Random split of the remaining budget; every feature appears at least once.
        shares = [rng.uniform(0.6, 1.4) for _ in range(n_paras)]
        scale = remaining / sum(shares)
        forced: list[list[str]] = [[] for _ in range(n_paras)]
        for kind in ("link", "em", "rel", "code", "strong"):
            forced[rng.randrange(n_paras)].append(kind)
        forced[0].append("link")

        out: list[str] = []
        used = 0
        para_i = 0

        def next_para() -> None:
            nonlocal used, para_i
            budget = int(sum(shares[: para_i + 1]) * scale) - used
            text, count = self.paragraph(max(budget, 12), forced[para_i])
            used += count
            para_i += 1
            out.append(text)

        next_para()
        for s in range(n_sections):
            out.append(f"## {headings[s]}")
            k = per_section[s]
            texts = special_text[s]
            # Interleave: paragraph, special, paragraph, special, ...
            for j in range(max(k, len(texts))):
                if j < k:
                    next_para()
                if j < len(texts):
                    out.append(texts[j])

        front = [
            "---",
            f"title: {_yaml_str(title)}",
            f"date: {date.isoformat()}",
            f"summary: {_yaml_str(summary)}",
            "tags:",
            *(f"  - {_yaml_str(t)}" for t in tags),
            "---",
            "",
            "",
        ]
        return "\n".join(front) + "\n\n".join(out) + "\n"


def post_date(i: int, n: int, rng: random.Random) -> dt.date:
    """Date of post ``i`` (1-based) of ``n``: oldest first, last one on END_DATE."""
    if n <= 1:
        return END_DATE
    slot = SPAN_DAYS / (n - 1)
    base = (i - 1) * slot
    jitter = rng.random() * slot * 0.9 if i < n else 0.0
    return START_DATE + dt.timedelta(days=min(int(base + jitter), SPAN_DAYS))


def generate(n: int, out_dir: str | os.PathLike[str], seed: int = 1, words: int = TARGET_WORDS) -> list[str]:
    """Write ``n`` posts of about ``words`` words into ``out_dir`` and return the file paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths: list[str] = []
    for i in range(1, n + 1):
        rng = random.Random(f"gen_site:{seed}:{i}")  # the name the generator had when the benchmark sites were made
        date = post_date(i, n, rng)
        text = PostWriter(rng, i, n, words).render(date)
        path = os.path.join(out_dir, f"{date.isoformat()}-post-{i}.md")
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        paths.append(path)
    return paths

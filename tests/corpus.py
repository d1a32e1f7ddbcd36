"""The bad-content corpus (``tests/data/bad``) and what each file must produce.

Cases git cannot store — an unreadable file, symlinks, a folder named ``x.md``,
a pipe, a huge file — are made by :func:`add_bad_corpus` in a temporary copy.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import frontmatter

BAD = Path(__file__).resolve().parent / "data" / "bad"
SAMPLE = Path(__file__).resolve().parent.parent / "content"
FOLDER = "bad"  # where the corpus goes inside a content copy


@dataclass(frozen=True)
class Case:
    #: File name inside the corpus folder.
    name: str
    #: Line the report must name.
    line: int
    #: A piece of the report's message.
    message: str
    #: Title under which the post publishes despite a warning; None when it is skipped.
    title: str | None = None

    @property
    def report(self) -> re.Pattern[str]:
        """How the problem reads in logs, ``feeds check`` and /healthz: ``path:line: message``."""
        return re.compile(re.escape(f"{FOLDER}/{self.name}:{self.line}: ") + r"(warning: )?" + ".*" + re.escape(self.message))


CASES = (
    Case("invalid-yaml.md", 4, "invalid YAML in front matter"),
    Case("not-a-mapping.md", 2, "front matter must be a mapping"),
    Case("missing-title.md", 1, "title: missing"),
    Case("empty-title.md", 3, "title: is empty"),
    Case("bad-date.md", 3, "is not an ISO 8601 date"),
    Case("impossible-date.md", 3, "day is out of range for month"),
    Case("tags-wrong-type.md", 4, "tags: expected a list of names, got dict"),
    Case("tags-nested-list.md", 4, "tags: expected names, got a list entry"),
    Case("tags-empty-entry.md", 4, "tags: empty tag ignored", "An empty tag entry"),
    Case("tags-huge-entry.md", 4, "tag of 10240 characters ignored", "A huge tag"),
    Case("non-utf8.md", 6, "not valid UTF-8"),
    Case("control-chars.md", 2, "removed characters that XML 1.0 forbids", "Control chars in the title"),
    Case("lone-surrogate-escape.md", 2, "title: removed characters that XML 1.0 forbids", "A lone surrogate"),
    Case("lone-surrogate-bytes.md", 5, "removed characters that XML 1.0 forbids (lone surrogates)", "Encoded lone surrogate"),
    Case("empty.md", 1, "empty file"),
    Case("whitespace-only.md", 1, "empty file"),
    Case("no-front-matter.md", 1, "no front matter"),
    Case("unclosed-front-matter.md", 1, "front matter is not closed"),
    Case("duplicate-slug.md", 1, "duplicate URL"),
    Case("duplicate-id-b.md", 1, "duplicate id"),
    Case("tag-collision.md", 1, "has the same slug 'c'", "Tags whose slugs collide"),
    Case("tag-empty-slug.md", 1, "has no letters or digits", "A tag with no letters"),
    # Made at test time:
    Case("unreadable.md", 1, "cannot read: Permission denied"),
    Case("outside.md", 1, "symlink points outside the content folder"),
    Case("folder.md", 1, "is a folder, not a Markdown file"),
    Case("huge.md", 1, "over max_file_size"),
    Case("pipe.md", 1, "is not a regular file"),
    Case("dangling.md", 1, "cannot read: No such file or directory"),
    Case("loop.md", 1, "symlink cannot be resolved"),
    Case("latin1-caf\\xe9.md", 1, "name is not valid UTF-8 or holds control characters"),
    Case("two\\x0alines.md", 1, "name is not valid UTF-8 or holds control characters"),
)

#: Files of the corpus that publish and report nothing.
CLEAN = {
    "bom-crlf.md": "BOM and CRLF",
    "duplicate-id-a.md": "First holder of an id",
    "script-title.md": "<script>alert(1)</script>",
    "unbalanced-html.md": "Unbalanced raw HTML",
}

#: A post outside the content folder that a symlink points at: it must never be read.
OUTSIDE_TITLE = "Secret from outside the content folder"


def sample_titles() -> list[str]:
    """Titles of the sample posts that are published (no draft, not in the future)."""
    titles = []
    for path in sorted(SAMPLE.glob("*.md")):
        post = frontmatter.load(path)
        if post.get("draft") or path.name.startswith("2027-"):
            continue
        titles.append(str(post["title"]))
    return titles


def add_bad_corpus(content: Path, max_file_size: int = 1024 * 1024) -> Path:
    """Copy the corpus into ``content/bad`` and add the cases git cannot hold."""
    folder = content / FOLDER
    shutil.copytree(BAD, folder)
    (folder / ".gitattributes").unlink()
    unreadable = folder / "unreadable.md"
    unreadable.write_text("---\ntitle: Unreadable\ndate: 2026-03-20\n---\nNobody may read this.\n", encoding="utf-8")
    unreadable.chmod(0)
    secret = content.parent / "outside.md"
    secret.write_text(f"---\ntitle: {OUTSIDE_TITLE}\ndate: 2026-03-21\n---\nNever published.\n", encoding="utf-8")
    (folder / "outside.md").symlink_to(secret)
    (folder / "folder.md").mkdir()
    body = "x" * 80 + "\n"
    (folder / "huge.md").write_text("---\ntitle: Huge\ndate: 2026-03-22\n---\n" + body * (max_file_size // len(body) + 1), encoding="utf-8")
    os.mkfifo(folder / "pipe.md")
    (folder / "dangling.md").symlink_to(folder / "nowhere.md")
    (folder / "loop.md").symlink_to(folder / "loop.md")
    # Names that would corrupt report lines: undecodable bytes, a line break.
    for name in (b"latin1-caf\xe9.md", b"two\nlines.md"):
        odd = Path(os.fsdecode(os.fsencode(folder) + b"/" + name))
        odd.write_text("---\ntitle: Odd name\ndate: 2026-03-23\n---\nx\n", encoding="utf-8")
    return folder


_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


@functools.cache
def unreadable_is_real() -> bool:
    """Whether a child started with :func:`without_dac_override` is refused a mode-000 file here."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "secret"
        path.write_text("x", encoding="utf-8")
        path.chmod(0)
        code = f"open({str(path)!r}).read()"
        try:
            result = subprocess.run([sys.executable, "-c", code], preexec_fn=without_dac_override, capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return False
        return result.returncode != 0 and b"PermissionError" in result.stderr


def cases() -> tuple[Case, ...]:
    """The cases this machine can show: all, unless no process here can be refused a read."""
    return tuple(case for case in CASES if case.name != "unreadable.md" or unreadable_is_real())


def without_dac_override() -> None:
    """In a child process before exec: drop root's power to read any file.

    Tests run as root here, and root reads a mode-000 file. Dropping
    CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set makes the
    child a root that obeys file modes, so "no read permission" is real. A
    non-root user needs nothing dropped.
    """
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        # Best effort: where this is refused, unreadable_is_real() says so and the case is left out.
        libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0)

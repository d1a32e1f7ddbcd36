"""A git remote that holds the posts, as ``content_dir`` names it, and how to show it without its secrets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

# content_dir may name a git remote instead of a folder (issue 12):
#   git+https://host/blog.git  git+ssh://git@host/blog.git  git+file:///srv/blog.git  file:///srv/blog.git
# with an optional "#branch", "#branch:sub/folder" or "#:sub/folder" suffix.
_GIT_SCHEMES = frozenset({"https", "http", "ssh", "git", "file"})
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# User info in a URL (https://user:token@host): shown as *** in every message.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@\s]+)@")


def redact(text: str) -> str:
    """Hide the user info of every URL in ``text`` (``https://user:token@host`` → ``https://***@host``).

    An ssh user name without a password (``ssh://git@host``) is kept: it is no secret.
    """

    def hide(match: re.Match[str]) -> str:
        scheme, user = match["scheme"], match["user"]
        if scheme.lower().rstrip("/:").endswith("ssh") and ":" not in user:
            return match.group()
        return f"{scheme}***@"

    return _USERINFO.sub(hide, text)


def looks_like_url(value: str) -> bool:
    """Whether ``value`` starts like a URL (``scheme://``)."""
    return _URL_SCHEME.match(value.strip()) is not None


def is_git_url(value: str) -> bool:
    """Return whether a ``content_dir`` value names a git remote rather than a folder."""
    match = _URL_SCHEME.match(value.strip())
    if match is None:
        return False
    scheme = match[1].lower()
    return scheme.startswith("git+") or scheme in ("file", "git")


@dataclass(frozen=True, repr=False)
class GitRemote:
    """A git repository (and branch, and folder in it) that holds the posts."""

    #: The URL handed to git (without ``git+`` and ``#…``); may hold credentials, so it is only shown through ``display``.
    url: str
    #: Branch from the ``#branch`` suffix; None means the ``content_branch`` setting.
    branch: str | None = None
    #: Folder inside the repository that holds the posts, ``/``-separated; ``""`` is the top.
    subdir: str = ""

    @property
    def display(self) -> str:
        """The URL with any credentials hidden: safe for logs, errors and /healthz."""
        return redact(self.url)

    def __str__(self) -> str:
        suffix = (self.branch or "") + (f":{self.subdir}" if self.subdir else "")
        return self.display + (f"#{suffix}" if suffix else "")

    def __repr__(self) -> str:
        return f"GitRemote({str(self)!r})"


# The rules of git check-ref-format, for one branch name: https://git-scm.com/docs/git-check-ref-format
_BAD_REF = re.compile(r"(^[-/.])|(\.\.)|(@\{)|(//)|([\x00-\x20\x7f~^:?*\[\\])|(\.lock$)|(\.lock/)|(/\.)|([/.]$)|(^@$)")


def check_branch(name: str) -> str:
    """Return ``name`` if git accepts it as a branch name; raise ValueError otherwise."""
    if not name or _BAD_REF.search(name):
        raise ValueError(f"not a valid branch name: {name!r}")
    return name


def parse_git_url(value: str) -> GitRemote:
    """Parse ``git+https://…``, ``git+ssh://…``, ``git+file://…``, ``file://…`` or ``git://…``, with ``#branch:folder``."""
    text = value.strip()
    if not is_git_url(text):
        raise ValueError(f"not a git URL: {redact(text)!r}")
    if text[:4].lower() == "git+":
        text = text[4:]
    url, _, fragment = text.partition("#")
    shown = redact(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as e:
        raise ValueError(f"invalid git URL {shown!r}: {e}") from e
    scheme = parts.scheme.lower()
    if scheme not in _GIT_SCHEMES:
        raise ValueError(f"unsupported git URL scheme {scheme!r} in {shown!r}; use git+https, git+ssh, git+file, file or git")
    if parts.query:
        raise ValueError(f"git URL must not have a query: {shown!r}")
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError(f"a file URL needs an absolute path (file:///srv/blog.git), got {shown!r}")
    elif not parts.hostname:
        raise ValueError(f"git URL has no host: {shown!r}")
    if parts.path.strip("/") == "":
        raise ValueError(f"git URL has no repository path: {shown!r}")
    if re.search(r"[\x00-\x1f\x7f]", unquote(parts.netloc)):
        raise ValueError(f"git URL has control characters in its host or credentials: {shown!r}")
    branch_text, _, subdir_text = fragment.partition(":")
    branch = check_branch(branch_text) if branch_text else None
    folders = [part for part in subdir_text.replace("\\", "/").split("/") if part]
    if any(part in (".", "..") for part in folders) or subdir_text.startswith("/"):
        raise ValueError(f"the folder after ':' must be a relative path inside the repository without '.' or '..', got {subdir_text!r}")
    return GitRemote(url, branch, "/".join(folders))

"""Running git for the content source: a clean environment, credentials never on a command line, a hard timeout."""

from __future__ import annotations

import os
import signal
import subprocess
from urllib.parse import unquote, urlsplit, urlunsplit

from feeds.gitremote import redact

#: Environment variables that point git at another repository (set, e.g., when run from a git hook).
LOCAL_ENV = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_PREFIX", "GIT_SHALLOW_FILE", "GIT_GRAFT_FILE",
    "GIT_IMPLICIT_WORK_TREE", "GIT_REPLACE_REF_BASE", "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM",
)  # fmt: skip

#: Settings of the private clone: checked-out bytes must not depend on the host's global git config.
REPO_CONFIG = """
[core]
\tautocrlf = false
\teol = lf
\tsafecrlf = false
\tsymlinks = true
\tlogAllRefUpdates = false
\thooksPath = {hooks}
[gc]
\tautoDetach = false
[advice]
\tdetachedHead = false
"""

#: A credential helper that answers with the user and password taken from the URL (passed in the environment).
#: An empty ``credential.helper`` before it drops the host's helpers: the URL's credentials were asked for.
CREDENTIAL_HELPER = (
    """!f() { test "$1" = get || return 0; printf 'username=%s\\npassword=%s\\n' "$FEEDS_GIT_USERNAME" "$FEEDS_GIT_PASSWORD"; }; f"""
)


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """Split ``https://user:token@host/…`` into the URL without user info and (user, token)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=host)), (unquote(user), unquote(password))


def kill(process: subprocess.Popen[bytes]) -> None:
    """Kill ``process`` and everything it started; collect it without waiting on a pipe held open."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
    try:
        process.communicate(timeout=5)
    except subprocess.TimeoutExpired:  # a grandchild that left the group still holds a pipe
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        process.wait(timeout=5)


def command_name(args: tuple[str, ...]) -> str:
    """Return the git command in ``args`` (``fetch``), past options such as ``-c name=value``."""
    return next((arg for arg in args if not arg.startswith("-") and "=" not in arg), "")


#: git's advice after a failed connection, which would crowd out the cause (ssh's own message) in a report.
BOILERPLATE = ("Please make sure you have the correct access rights", "and the repository exists.")


def last_lines(stderr: bytes, limit: int = 3) -> str:
    """Return the last lines of git's error output, credentials hidden, as one line."""
    text = stderr.decode("utf-8", "replace")
    lines = [line.strip() for line in text.splitlines() if line.strip() and line.strip() not in BOILERPLATE]
    return redact(" / ".join(lines[-limit:]))[:500]

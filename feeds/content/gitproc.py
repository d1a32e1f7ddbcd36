"""Running git for the content source: a clean environment, credentials never on a command line, a hard timeout."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
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


#: The name of the remote; its URL is passed in the environment only (never on disk or in argv).
REMOTE = "feeds-source"


class GitRunner:
    """Runs git on one private clone (and its work tree) with a hard timeout; errors come from ``error``."""

    def __init__(
        self,
        repo: Path,
        tree: Path,
        workdir: Path,
        url: str,
        credentials: tuple[str, str] | None,
        timeout: float,
        error: Callable[[str, Any], Exception],
    ) -> None:
        self.repo, self.tree, self.workdir, self.timeout, self.error = repo, tree, workdir, timeout, error
        self._url, self._credentials = url, credentials

    def output(self, *args: str, check: bool = True, remote: bool = False, work_tree: bool = False, in_repo: bool = True) -> bytes:
        """Run git and return its output; with ``check``, a failure raises ``error`` with git's last lines."""
        result = self.run(*args, remote=remote, work_tree=work_tree, in_repo=in_repo)
        if check and result.returncode != 0:
            detail = last_lines(result.stderr) or f"exit status {result.returncode}"
            raise self.error(f"git {command_name(args)} failed: {detail}", "git")
        return result.stdout

    def run(self, *args: str, remote: bool = False, work_tree: bool = False, in_repo: bool = True) -> subprocess.CompletedProcess[bytes]:
        """Run git with a hard timeout; on expiry kill its whole process group (ssh, remote helpers)."""
        command = ["git"]
        if in_repo:
            command.append(f"--git-dir={self.repo}")
        if work_tree:
            command.append(f"--work-tree={self.tree}")
        command.extend(args)
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self._env(remote),
                cwd=self.workdir,
                start_new_session=True,  # its own process group, and no terminal to prompt on
            )
        except OSError as e:
            raise self.error(f"cannot run git ({e.strerror}); is git installed?", "git") from e
        try:
            stdout, stderr = process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            kill(process)
            raise self.error(f"git {command_name(args)} took longer than {self.timeout:g} s (git_timeout); stopped", "timeout") from None
        return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)

    def _env(self, remote: bool) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in LOCAL_ENV}
        env.update(
            GIT_TERMINAL_PROMPT="0",  # fail, never prompt for a user name or password
            GCM_INTERACTIVE="never",  # Git Credential Manager: no dialogs either
            GIT_NO_REPLACE_OBJECTS="1",
            LC_ALL="C",  # messages we recognise (and in English in the logs)
            LANGUAGE="C",
        )
        if remote:
            # Settings through the environment (readable only by this user), never argv (every user
            # sees it in ps) nor a file on disk: the URL, and the credentials written in it, which
            # git would otherwise hand its https helper on the command line.
            settings = [(f"remote.{REMOTE}.url", self._url)]
            if self._credentials is not None:
                env["FEEDS_GIT_USERNAME"], env["FEEDS_GIT_PASSWORD"] = self._credentials
                settings += [("credential.helper", ""), ("credential.helper", CREDENTIAL_HELPER)]
            count = int(env.get("GIT_CONFIG_COUNT", "0") or "0")
            for key, value in settings:
                env[f"GIT_CONFIG_KEY_{count}"], env[f"GIT_CONFIG_VALUE_{count}"] = key, value
                count += 1
            env["GIT_CONFIG_COUNT"] = str(count)
        return env

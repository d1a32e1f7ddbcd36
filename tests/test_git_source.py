"""Content from a git remote (issue 12): real ``git``, real repositories in tmp_path, servers on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest

from feeds.config import load_config
from feeds.content.git import Checkout, GitSource, GitSourceError
from feeds.errors import ConfigError
from feeds.gitremote import GitRemote, is_git_url, parse_git_url, redact
from feeds.web.hooks import push_ref, sign, verify_push, verify_signature
from tests.gitserver import free_port, git_daemon, git_http, hung_server

#: A fixed clock for commits: 2023-11-14T22:13:20Z, then one minute per commit unless told.
T0 = 1_700_000_000
#: Generous for a loaded machine; the timeout tests use their own short one.
TIMEOUT = 30.0
#: The host's git configuration must not change what the tests see.
GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Author",
    "GIT_AUTHOR_EMAIL": "author@example.org",
    "GIT_COMMITTER_NAME": "Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.org",
}


def git(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        ["git", *map(str, args)], cwd=cwd, env=env or GIT_ENV, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert result.returncode == 0, f"git {' '.join(map(str, args))}: {result.stderr}"
    return result.stdout.strip()


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class Upstream:
    """A bare repository (the remote) and an author's clone that commits and pushes to it."""

    def __init__(self, root: Path, name: str = "blog.git") -> None:
        self.root = root / "remote"
        self.bare = self.root / name
        self.work = root / "author"
        self.clock = T0
        git("init", "--quiet", "--bare", "--initial-branch=main", self.bare)
        git("init", "--quiet", "--initial-branch=main", self.work)
        git("remote", "add", "origin", self.bare, cwd=self.work)

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def commit(self, files: dict[str, str | None], when: int | None = None, message: str = "edit", push: bool = True) -> str:
        """Write (or, for None, delete) ``files``, commit at ``when`` and push; return the commit id."""
        for name, text in files.items():
            path = self.work / name
            if text is None:
                path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
        return self._commit(message, when, push)

    def move(self, old: str, new: str, when: int | None = None, text: str | None = None) -> str:
        (self.work / new).parent.mkdir(parents=True, exist_ok=True)
        git("mv", old, new, cwd=self.work)
        if text is not None:
            (self.work / new).write_text(text, encoding="utf-8")
        return self._commit(f"move {old} to {new}", when, True)

    def _commit(self, message: str, when: int | None, push: bool) -> str:
        self.clock = when if when is not None else self.clock + 60
        dated = {**GIT_ENV, "GIT_AUTHOR_DATE": f"@{self.clock} +0000", "GIT_COMMITTER_DATE": f"@{self.clock} +0000"}
        git("add", "--all", cwd=self.work, env=dated)
        git("commit", "--quiet", "--allow-empty", "-m", message, cwd=self.work, env=dated)
        if push:
            self.push()
        return git("rev-parse", "HEAD", cwd=self.work)

    def push(self, force: bool = False, branch: str = "main") -> None:
        git("push", "--quiet", *(["--force"] if force else []), "origin", f"HEAD:refs/heads/{branch}", cwd=self.work)


def post(title: str, body: str = "Body.") -> str:
    return f"---\ntitle: {title}\n---\n{body}\n"


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """GitSource inherits the environment: keep the host's git configuration out of it."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    return Upstream(tmp_path)


def source(url: str, workdir: Path, timeout: float = TIMEOUT, branch: str = "main") -> GitSource:
    return GitSource(parse_git_url(url), workdir, branch=branch, timeout=timeout)


def stamp(path: Path) -> tuple[int, int, int]:
    info = path.stat()
    return (info.st_size, info.st_mtime_ns, info.st_ino)


# -- content_dir values and settings ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "url", "branch", "subdir"),
    [
        ("git+https://host.example/blog.git", "https://host.example/blog.git", None, ""),
        ("git+ssh://git@host.example/me/blog.git#main", "ssh://git@host.example/me/blog.git", "main", ""),
        ("git+file:///srv/blog.git#drafts:posts/en", "file:///srv/blog.git", "drafts", "posts/en"),
        ("file:///srv/blog.git#:posts/", "file:///srv/blog.git", None, "posts"),
        ("git://127.0.0.1:9418/blog.git#feature/x", "git://127.0.0.1:9418/blog.git", "feature/x", ""),
    ],
)
def test_git_urls_parse_into_url_branch_and_folder(value: str, url: str, branch: str | None, subdir: str) -> None:
    assert is_git_url(value)
    assert parse_git_url(value) == GitRemote(url, branch, subdir)


@pytest.mark.parametrize("value", ["content", "/srv/blog", "./git+x", "posts#main", "C:/blog"])
def test_folders_stay_folders(value: str) -> None:
    assert not is_git_url(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("git+ftp://host/blog.git", "unsupported git URL scheme"),
        ("git+https:///blog.git", "no host"),
        ("git+https://host.example/", "no repository path"),
        ("file://elsewhere/srv/blog.git", "absolute path"),
        ("git+https://host.example/blog.git#bad..name", "not a valid branch name"),
        ("git+https://host.example/blog.git#main:../etc", "relative path"),
        ("git+https://host.example:99999/blog.git", "Port out of range"),
        ("git+https://host.example/blog.git?x=1", "query"),
    ],
)
def test_bad_git_urls_are_refused(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_git_url(value)


def test_credentials_never_show_in_the_remote_or_its_errors() -> None:
    remote = parse_git_url("git+https://reader:hunter2hunter2@host.example/blog.git#main")
    assert "hunter2" not in str(remote) and "hunter2" not in repr(remote) and "hunter2" not in remote.display
    assert remote.display == "https://***@host.example/blog.git"
    assert redact("fatal: unable to access 'https://x:tok@h/r.git/'") == "fatal: unable to access 'https://***@h/r.git/'"
    assert redact("ssh://git@host.example/blog.git") == "ssh://git@host.example/blog.git"  # a user name alone is no secret
    error = GitSourceError(remote.url, "main", f"cannot reach {remote.url}")
    assert "hunter2" not in str(error) and "hunter2" not in error.remote and "hunter2" not in error.message
    with pytest.raises(ValueError) as caught:
        parse_git_url("git+https://reader:hunter2hunter2@host.example/blog.git#bad..name")
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [("content_branch", "bad..name"), ("content_branch", ""), ("git_timeout", "0"), ("git_timeout", "soon"), ("webhook_secret", "short")],
)
def test_bad_git_settings_name_their_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, env={}, overrides={key: value})
    assert caught.value.key == key


def test_git_settings_load_and_the_secret_is_not_in_the_summary() -> None:
    config = load_config(None, env={"FEEDS_WEBHOOK_SECRET": "s" * 32, "FEEDS_GIT_TIMEOUT": "5", "FEEDS_CONTENT_BRANCH": "pages"})
    assert (config.webhook_secret, config.git_timeout, config.content_branch) == ("s" * 32, 5, "pages")
    assert config.summary()["webhook_secret"] == "set"
    defaults = load_config(None, env={})
    assert (defaults.webhook_secret, defaults.git_timeout, defaults.content_branch) == (None, 60, "main")


def test_content_dir_takes_a_folder_or_a_git_remote() -> None:
    assert load_config(None, env={}, overrides={"content_dir": "posts"}).content_dir == Path("posts")
    config = load_config(None, env={"FEEDS_CONTENT_DIR": "git+https://bot:t0ken-t0ken@host.example/blog.git#main:posts"})
    assert config.content_dir == GitRemote("https://bot:t0ken-t0ken@host.example/blog.git", "main", "posts")
    assert config.summary()["content_dir"] == "https://***@host.example/blog.git#main:posts"  # the start-up log line


@pytest.mark.parametrize(
    "value", ["git+https://bot:t0ken@host.example/blog.git#bad..ref", "https://host.example/blog.git", "git+gopher://h/x"]
)
def test_a_bad_git_content_dir_names_the_key_and_hides_credentials(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, env={}, overrides={"content_dir": value})
    assert caught.value.key == "content_dir"
    assert "t0ken" not in str(caught.value)


# -- sync: clone, fetch, check out -----------------------------------------------------------


def test_first_sync_clones_and_checks_out_the_branch_head(upstream: Upstream, tmp_path: Path) -> None:
    head = upstream.commit({"hello.md": post("Hello"), "notes/more.md": post("More")}, when=T0)
    checkout = source(upstream.url, tmp_path / "work").sync()
    assert checkout.commit == head
    assert checkout.previous is None and checkout.changed and not checkout.forced
    assert checkout.commit_time == at(T0)
    assert (checkout.path / "hello.md").read_text(encoding="utf-8") == post("Hello")
    assert sorted(p.name for p in checkout.path.iterdir()) == ["hello.md", "notes"]  # no .git in the scanned folder
    assert dict(checkout.dates) == {"hello.md": (at(T0), at(T0)), "notes/more.md": (at(T0), at(T0))}


def test_a_new_commit_is_fetched_and_only_changed_files_are_rewritten(upstream: Upstream, tmp_path: Path) -> None:
    upstream.commit({"a.md": post("A"), "b.md": post("B")}, when=T0)
    git_source = source(upstream.url, tmp_path / "work")
    first = git_source.sync()
    kept, edited = stamp(first.path / "a.md"), stamp(first.path / "b.md")
    assert git_source.sync().changed is False  # nothing pushed: same commit, nothing rewritten

    head = upstream.commit({"b.md": post("B", "Longer body."), "c.md": post("C")}, when=T0 + 100)
    second = git_source.sync()
    assert (second.commit, second.previous, second.forced) == (head, first.commit, False)
    assert second.commit_time == at(T0 + 100)
    # The scan re-reads files by (size, mtime, inode): an untouched post must keep its stamp.
    assert stamp(second.path / "a.md") == kept
    assert stamp(second.path / "b.md") != edited
    assert dict(second.dates) == {
        "a.md": (at(T0), at(T0)),
        "b.md": (at(T0), at(T0 + 100)),
        "c.md": (at(T0 + 100), at(T0 + 100)),
    }


def test_a_deleted_post_leaves_the_checkout_and_the_dates(upstream: Upstream, tmp_path: Path) -> None:
    upstream.commit({"a.md": post("A"), "b.md": post("B")})
    git_source = source(upstream.url, tmp_path / "work")
    git_source.sync()
    upstream.commit({"b.md": None})
    checkout = git_source.sync()
    assert not (checkout.path / "b.md").exists()
    assert set(checkout.dates) == {"a.md"}


def test_dates_carry_across_a_rename(upstream: Upstream, tmp_path: Path) -> None:
    body = "A body long enough to be recognised after an edit.\n"
    upstream.commit({"drafts/one.md": post("One", body * 5)}, when=T0)
    upstream.commit({"two.md": post("Two", "Another body that stays the same.\n" * 5)}, when=T0 + 10)
    upstream.move("two.md", "posts/two.md", when=T0 + 20)  # a pure rename: no text changed
    upstream.move("drafts/one.md", "posts/one.md", when=T0 + 30, text=post("One", body * 6))
    checkout = source(upstream.url, tmp_path / "work").sync()
    assert dict(checkout.dates) == {
        "posts/one.md": (at(T0), at(T0 + 30)),  # renamed and edited: updated at the rename
        "posts/two.md": (at(T0 + 10), at(T0 + 10)),  # renamed only: not updated
    }


def test_dates_follow_the_first_parent_line_of_a_merge(upstream: Upstream, tmp_path: Path) -> None:
    upstream.commit({"a.md": post("A")}, when=T0)
    git("checkout", "--quiet", "-b", "topic", cwd=upstream.work)
    upstream.commit({"topic.md": post("Topic")}, when=T0 + 10, push=False)
    git("checkout", "--quiet", "main", cwd=upstream.work)
    upstream.commit({"a.md": post("A", "Edited.")}, when=T0 + 20, push=False)
    dated = {**GIT_ENV, "GIT_AUTHOR_DATE": f"@{T0 + 30} +0000", "GIT_COMMITTER_DATE": f"@{T0 + 30} +0000"}
    git("merge", "--quiet", "--no-ff", "-m", "merge topic", "topic", cwd=upstream.work, env=dated)
    upstream.push()
    checkout = source(upstream.url, tmp_path / "work").sync()
    # The topic's post reached the branch with the merge: that is when it was published.
    assert checkout.dates["topic.md"] == (at(T0 + 30), at(T0 + 30))
    assert checkout.dates["a.md"] == (at(T0), at(T0 + 20))


def test_a_force_push_moves_to_the_new_commit_and_is_flagged(upstream: Upstream, tmp_path: Path) -> None:
    upstream.commit({"a.md": post("A")}, when=T0)
    upstream.commit({"b.md": post("B")}, when=T0 + 10)
    git_source = source(upstream.url, tmp_path / "work")
    before = git_source.sync()
    git("reset", "--quiet", "--hard", "HEAD~1", cwd=upstream.work)
    rewritten = upstream.commit({"c.md": post("C")}, when=T0 + 20, push=False)
    upstream.push(force=True)

    after = git_source.sync()
    assert (after.commit, after.previous, after.forced) == (rewritten, before.commit, True)
    assert sorted(p.name for p in after.path.iterdir()) == ["a.md", "c.md"]
    assert dict(after.dates) == {"a.md": (at(T0), at(T0)), "c.md": (at(T0 + 20), at(T0 + 20))}
    upstream.commit({"d.md": post("D")}, when=T0 + 30)
    assert git_source.sync().forced is False  # a later ordinary push is no force-push


def test_a_deleted_branch_fails_and_keeps_the_last_checkout(upstream: Upstream, tmp_path: Path) -> None:
    upstream.commit({"a.md": post("A")})
    git_source = source(upstream.url, tmp_path / "work")
    last = git_source.sync()
    git("update-ref", "-d", "refs/heads/main", cwd=upstream.bare)
    with pytest.raises(GitSourceError) as caught:
        git_source.sync()
    assert caught.value.kind == "bad_ref"
    assert caught.value.ref == "main"
    assert "branch 'main' not found" in str(caught.value)
    assert (last.path / "a.md").read_text(encoding="utf-8") == post("A")  # the last snapshot's files are untouched
    assert git_source.current == last


def test_a_branch_that_never_existed_is_a_bad_ref(upstream: Upstream, tmp_path: Path) -> None:
    upstream.commit({"a.md": post("A")})
    with pytest.raises(GitSourceError) as caught:
        source(upstream.url + "#nope", tmp_path / "work").sync()
    assert caught.value.kind == "bad_ref" and caught.value.ref == "nope"


def test_content_branch_applies_when_the_url_names_none(upstream: Upstream, tmp_path: Path) -> None:
    upstream.commit({"a.md": post("A")})
    upstream.commit({"b.md": post("B")}, push=False)
    upstream.push(branch="pages")
    checkout = source(upstream.url, tmp_path / "work", branch="pages").sync()
    assert checkout.branch == "pages" and set(checkout.dates) == {"a.md", "b.md"}


def test_a_folder_inside_the_repository(upstream: Upstream, tmp_path: Path) -> None:
    upstream.commit({"README.md": "# Site\n", "posts/a.md": post("A"), "posts/2024/b.md": post("B")}, when=T0)
    checkout = source(upstream.url + "#main:posts", tmp_path / "work").sync()
    assert checkout.path == tmp_path / "work" / "tree" / "posts"
    assert set(checkout.dates) == {"a.md", "2024/b.md"}
    assert not (tmp_path / "work" / "tree" / "README.md").exists()  # only the posts' folder is checked out

    upstream.commit({"posts/a.md": None, "posts/2024/b.md": None})
    with pytest.raises(GitSourceError) as caught:
        source(upstream.url + "#main:posts", tmp_path / "work").sync()
    assert caught.value.kind == "missing_folder"
    assert (checkout.path / "a.md").exists()


def test_changing_the_folder_on_the_same_work_folder_checks_out_afresh(upstream: Upstream, tmp_path: Path) -> None:
    upstream.commit({"README.md": "# Site\n", "posts/a.md": post("A"), "drafts/b.md": post("B")})
    assert set(source(upstream.url + "#:posts", tmp_path / "work").sync().dates) == {"a.md"}
    drafts = source(upstream.url + "#:drafts", tmp_path / "work").sync()
    assert sorted(p.name for p in (tmp_path / "work" / "tree").iterdir()) == ["drafts"]
    assert set(drafts.dates) == {"b.md"}
    whole = source(upstream.url, tmp_path / "work").sync()
    assert sorted(p.name for p in whole.path.iterdir()) == ["README.md", "drafts", "posts"]


# -- failures of the remote ------------------------------------------------------------------


def test_an_unreachable_remote_fails_fast(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(GitSourceError) as caught:
        source(f"git://127.0.0.1:{free_port()}/blog.git", tmp_path / "work", timeout=10).sync()
    assert caught.value.kind == "unreachable"
    assert time.monotonic() - started < 10


def test_an_unreachable_ssh_remote_fails_fast_with_the_cause(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(GitSourceError) as caught:
        source(f"git+ssh://git@127.0.0.1:{free_port()}/blog.git", tmp_path / "work", timeout=10).sync()
    assert caught.value.kind == "unreachable"
    assert "Connection refused" in str(caught.value)  # ssh's reason, not only git's advice
    assert time.monotonic() - started < 10


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(cmdline)
    return found


def test_a_hung_remote_is_stopped_at_the_timeout(tmp_path: Path) -> None:
    with hung_server() as port:
        started = time.monotonic()
        with pytest.raises(GitSourceError) as caught:
            source(f"git+http://127.0.0.1:{port}/blog.git", tmp_path / "work", timeout=2).sync()
        elapsed = time.monotonic() - started
        assert caught.value.kind == "timeout"
        assert "git_timeout" in str(caught.value)
        assert 2 <= elapsed < 10
        # git and its https helper were killed as a group, not left hanging on the socket.
        assert _processes_mentioning(f"127.0.0.1:{port}") == []


def test_the_network_path_through_git_daemon(upstream: Upstream, tmp_path: Path) -> None:
    first = upstream.commit({"a.md": post("A")}, when=T0)
    with git_daemon(upstream.root) as base:
        git_source = source(f"{base}/blog.git", tmp_path / "work")
        assert git_source.sync().commit == first
        second = upstream.commit({"b.md": post("B")}, when=T0 + 60)
        checkout = git_source.sync()
    assert (checkout.commit, checkout.previous) == (second, first)
    assert dict(checkout.dates) == {"a.md": (at(T0), at(T0)), "b.md": (at(T0 + 60), at(T0 + 60))}


def test_the_network_path_through_http_backend_with_credentials(upstream: Upstream, tmp_path: Path) -> None:
    head = upstream.commit({"a.md": post("A")})
    secret = "p@ss:word/with%odd"
    with git_http(upstream.root, credentials=("reader", secret)) as (base, server):
        host = base.removeprefix("http://")
        url = f"git+http://reader:{quote(secret, safe='')}@{host}/blog.git"
        git_source = source(url, tmp_path / "work")
        assert git_source.sync().commit == head
        assert any("auth=True" in line for line in server.requests)
        # The URL git is handed carries no credentials (git would put it on a helper's command line).
        env = git_source._runner._env(remote=True)
        assert secret not in env[f"GIT_CONFIG_VALUE_{int(env['GIT_CONFIG_COUNT']) - 3}"]
        assert all(quote(secret, safe="") not in value and secret not in value for key, value in env.items() if key != "FEEDS_GIT_PASSWORD")

        wrong = f"git+http://reader:{quote('wrong-password', safe='')}@{host}/blog.git"
        with pytest.raises(GitSourceError) as caught:
            source(wrong, tmp_path / "other").sync()
    assert caught.value.kind == "unreachable"
    assert "wrong-password" not in str(caught.value)
    assert "***@" in str(caught.value)


# -- restarts, crashes and determinism -------------------------------------------------------


def test_a_restart_reuses_the_clone_the_checkout_and_the_dates(upstream: Upstream, tmp_path: Path) -> None:
    upstream.commit({"a.md": post("A")}, when=T0)
    upstream.commit({"b.md": post("B")}, when=T0 + 5)
    first = source(upstream.url, tmp_path / "work").sync()
    before = stamp(first.path / "a.md")
    again = source(upstream.url, tmp_path / "work").sync()  # a new process on the same folder
    assert (again.commit, again.previous, again.changed) == (first.commit, first.commit, False)
    assert stamp(again.path / "a.md") == before  # not checked out again
    assert dict(again.dates) == dict(first.dates)
    assert json.loads((tmp_path / "work" / "dates.json").read_text())["commit"] == first.commit


def test_a_checkout_cut_short_is_completed_by_the_next_sync(upstream: Upstream, tmp_path: Path) -> None:
    upstream.commit({"a.md": post("A")})
    first = source(upstream.url, tmp_path / "work").sync()
    # What a crash in the middle of a checkout can leave: the marker, a stray file, a missing one.
    (tmp_path / "work" / "checkout-pending").write_text(first.commit + "\n")
    (first.path / "stray.md").write_text(post("Stray"))
    (first.path / "a.md").unlink()
    repaired = source(upstream.url, tmp_path / "work").sync()
    assert sorted(p.name for p in repaired.path.iterdir()) == ["a.md"]
    assert not (tmp_path / "work" / "checkout-pending").exists()


def test_two_hosts_get_the_same_dates_however_often_they_fetched(upstream: Upstream, tmp_path: Path) -> None:
    often = source(upstream.url, tmp_path / "host-a")
    upstream.commit({"a.md": post("A")}, when=T0)
    often.sync()
    upstream.move("a.md", "b.md", when=T0 + 10)
    often.sync()
    # A topic branch that merged main in, then fast-forwarded main: the head host A saw is
    # reached only through the merge's second parent, so its dates cannot just be carried on.
    git("checkout", "--quiet", "-b", "topic", "HEAD~1", cwd=upstream.work)
    upstream.commit({"t.md": post("T")}, when=T0 + 20, push=False)
    dated = {**GIT_ENV, "GIT_AUTHOR_DATE": f"@{T0 + 30} +0000", "GIT_COMMITTER_DATE": f"@{T0 + 30} +0000"}
    git("merge", "--quiet", "--no-ff", "-m", "merge main", "main", cwd=upstream.work, env=dated)
    upstream.push()
    often.sync()
    upstream.commit({"c.md": post("C")}, when=T0 + 40)
    final = often.sync()

    once = source(upstream.url, tmp_path / "host-b").sync()
    assert once.commit == final.commit
    assert once.commit_time == final.commit_time
    assert dict(once.dates) == dict(final.dates)
    # On the first-parent line the rename a.md → b.md came with the merge; the dates still go back to a.md's.
    assert dict(final.dates) == {"b.md": (at(T0), at(T0)), "t.md": (at(T0 + 20), at(T0 + 20)), "c.md": (at(T0 + 40), at(T0 + 40))}


def test_the_work_folder_is_private(upstream: Upstream, tmp_path: Path) -> None:
    upstream.commit({"a.md": post("A")})
    source(upstream.url, tmp_path / "work").sync()
    assert (tmp_path / "work").stat().st_mode & 0o077 == 0


# -- push webhooks ---------------------------------------------------------------------------

SECRET = "a-webhook-secret-of-some-length"
BODY = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()


@pytest.mark.parametrize(
    ("headers", "provider"),
    [
        ({"X-Hub-Signature-256": "sha256=" + sign(BODY, SECRET), "X-GitHub-Event": "push"}, "github"),
        ({"x-hub-signature-256": "sha256=" + sign(BODY, SECRET).upper(), "x-github-event": "push"}, "github"),
        ({"X-Gitea-Signature": sign(BODY, SECRET), "X-Gitea-Event": "push"}, "gitea"),
        ({"X-Forgejo-Signature": sign(BODY, SECRET), "X-Forgejo-Event": "push", "X-Gitea-Event": "push"}, "gitea"),
        (
            {"X-Gitea-Signature": sign(BODY, SECRET), "X-Hub-Signature-256": "sha256=" + sign(BODY, SECRET), "X-GitHub-Event": "push"},
            "gitea",
        ),
        ({"X-Gitlab-Token": SECRET, "X-Gitlab-Event": "Push Hook"}, "gitlab"),
    ],
)
def test_a_signed_push_names_its_provider(headers: dict[str, str], provider: str) -> None:
    assert verify_push(headers, BODY, SECRET) == provider
    assert push_ref(verify_push(headers, BODY, SECRET) or "github", BODY) == "refs/heads/main"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-GitHub-Event": "push"},
        {"X-Hub-Signature-256": "sha256=" + sign(BODY, "another-secret-entirely"), "X-GitHub-Event": "push"},
        {"X-Hub-Signature-256": sign(BODY, SECRET), "X-GitHub-Event": "push"},  # without the sha256= prefix
        {"X-Hub-Signature-256": "sha256=" + sign(BODY + b" ", SECRET), "X-GitHub-Event": "push"},  # another body
        {"X-Hub-Signature": "sha1=" + "0" * 40, "X-GitHub-Event": "push"},  # SHA-1 is not accepted
        {"X-Gitea-Signature": "0" * 64, "X-Gitea-Event": "push"},
        # A bad Forgejo signature is not rescued by a good GitHub-style one.
        {"X-Forgejo-Signature": "0" * 64, "X-Hub-Signature-256": "sha256=" + sign(BODY, SECRET), "X-GitHub-Event": "push"},
        {"X-Gitlab-Token": SECRET + "x", "X-Gitlab-Event": "Push Hook"},
        {"X-Gitlab-Token": "", "X-Gitlab-Event": "Push Hook"},
        {"X-Gitlab-Token": "é" * 8, "X-Gitlab-Event": "Push Hook"},
        {"Authorization": f"Bearer {SECRET}"},
    ],
)
def test_forged_or_unsigned_requests_are_refused(headers: dict[str, str]) -> None:
    assert verify_push(headers, BODY, SECRET) is None


def test_signed_events_that_are_not_pushes_are_not_pushes() -> None:
    ping = {"X-Hub-Signature-256": "sha256=" + sign(BODY, SECRET), "X-GitHub-Event": "ping"}
    assert verify_signature(ping, BODY, SECRET) == "github"
    assert verify_push(ping, BODY, SECRET) is None
    tag = {"X-Gitlab-Token": SECRET, "X-Gitlab-Event": "Tag Push Hook"}
    assert verify_signature(tag, BODY, SECRET) == "gitlab" and verify_push(tag, BODY, SECRET) is None


def test_no_secret_verifies_nothing() -> None:
    assert verify_signature({"X-Gitlab-Token": "", "X-Gitlab-Event": "Push Hook"}, BODY, "") is None


def test_push_ref_from_json_and_form_bodies() -> None:
    form = b"payload=" + quote(json.dumps({"ref": "refs/heads/pages"})).encode()
    assert push_ref("github", form) == "refs/heads/pages"
    assert push_ref("gitlab", b"not json") is None
    assert push_ref("gitea", b"[1, 2]") is None
    assert push_ref("gitea", json.dumps({"ref": 3}).encode()) is None


def test_checkout_is_a_frozen_record(upstream: Upstream, tmp_path: Path) -> None:
    upstream.commit({"a.md": post("A")})
    checkout = source(upstream.url, tmp_path / "work").sync()
    assert isinstance(checkout, Checkout)
    with pytest.raises(AttributeError):
        checkout.commit = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        checkout.dates["a.md"] = (at(0), at(0))  # type: ignore[index]

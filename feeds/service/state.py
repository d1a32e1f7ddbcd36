"""The builder's content index on disk, so that the next builder carries on where this one stopped.

It holds every file's stamp and parsed record and the last good version of
each broken post: a restart, a reload or a new builder reads no unchanged file
again and keeps serving a broken post as it was last published. Saved with the
settings and code it was made by: other settings start afresh (every URL may
differ); other code reads every file again but keeps the last good versions.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

from feeds import log
from feeds.config import Config
from feeds.content.index import ContentIndex
from feeds.fingerprint import code_digest, settings_digest
from feeds.fsutil import atomic_write

NAME = "content-index.pickle"


def save(folder: Path, config: Config, index: ContentIndex) -> bool:
    """Write ``index`` durably into ``folder``; return False (logged) if it could not be written."""
    path = folder / NAME
    data = pickle.dumps({"settings": settings_digest(config), "code": code_digest(), "index": index.state()}, pickle.HIGHEST_PROTOCOL)
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        atomic_write(path, data, mode=0o600)
    except OSError as e:  # tried again after the next publish
        log.event("state_failed", logging.ERROR, path=str(path), reason=e.strerror or str(e))
        return False
    return True


def restore(folder: Path, config: Config, index: ContentIndex) -> bool:
    """Start ``index`` from the state saved in ``folder``; return whether it needs no saving again."""
    path = folder / NAME
    try:
        data = pickle.loads(path.read_bytes())  # noqa: S301 - our own file in the private snapshot folder
        if not isinstance(data, dict) or data.get("settings") != settings_digest(config):
            return False  # other settings: every post's URL or fields may differ, and the kept versions with them
        upgraded = data.get("code") != code_digest()
        index.restore(data["index"], reread=upgraded)
    except FileNotFoundError:
        return False
    except Exception as e:  # torn, or saved by code whose records this code cannot use: read every file again
        log.event("state_unreadable", logging.WARNING, path=str(path), error=repr(e))
        return False
    return not upgraded

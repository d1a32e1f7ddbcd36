"""``wsgi:app`` whose builder leaves older pages pending while a gate file exists (tests/test_roles.py).

After a cold start the builder publishes page 1s and then renders the older
pages in :meth:`Builder.complete`, usually within a second: too fast for a
test to ask a follower for a page that is still pending. Served as
``tests.gated_wsgi:app`` with ``GATED_BUILDER_GATE=<file>``, each worker's
builder waits in ``complete()`` (outside its locks, as between two chunks)
while that file exists, up to ``MAX_WAIT`` seconds, so the pending state lasts
until the test removes the file. Nothing else differs from ``wsgi.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

from feeds.service.builder import Builder
from feeds.web.app import create_app

from .waiting import poll

GATE = Path(os.environ["GATED_BUILDER_GATE"])
#: Never hold a worker longer than this, even if a test forgets the gate.
MAX_WAIT = 60.0

_complete = Builder.complete


def _gated_complete(self: Builder) -> bool:
    poll(lambda: not GATE.exists(), MAX_WAIT)  # past MAX_WAIT, go on as if the gate were gone
    return _complete(self)


Builder.complete = _gated_complete  # type: ignore[method-assign]

app = create_app()

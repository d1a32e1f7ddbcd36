"""granian with the libraries the app uses imported once, before it forks its workers, so they share those pages.

    python -m feeds.web.preload --interface wsgi --workers 4 … wsgi:app    # granian's own options, unchanged

granian loads the app in each worker after the fork: every worker imported the same
libraries (Flask, SQLAlchemy, Jinja, prometheus-client, cryptography, …: about 50 MB)
into memory of its own. Here the main process imports them first, so each worker
starts with them in pages it shares with the others until it writes to them (PSS
counts a shared page once across the processes sharing it). Only libraries stay
loaded: this package's own modules are imported to find them, then forgotten, so each
worker (a new one after a reload, too) imports the code on disk now and builds its
app itself, and no thread or lock is made before the fork. Upgrading the
libraries needs a restart, not a reload.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from pathlib import Path

#: Modules of this project (imported by the workers themselves, never kept from the main process).
OWN = ("feeds", "wsgi")


def preload(app_module: str = "feeds.web.app") -> list[str]:
    """Import ``app_module``, keep every library it loaded and forget this project's modules; the names kept, sorted."""
    importlib.import_module(app_module)
    ours = [name for name in sys.modules if name.split(".")[0] in OWN]
    for name in ours:
        del sys.modules[name]
    _forget_metric_files()
    gc.collect()
    gc.freeze()  # what is loaded now is never scanned by a worker's collector (which would write to its pages)
    return sorted(name for name in sys.modules if not name.startswith("_"))


def _forget_metric_files() -> None:
    """Remove the files of counters at zero that prometheus-client's multiprocess mode made for this process's imports.

    Only the workers count; each makes its own files. This process's would be summed (as zeros) at every scrape.
    """
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        for path in Path(folder).glob(f"*_{os.getpid()}.db"):
            path.unlink(missing_ok=True)


def main() -> None:
    """Preload, then run granian's command line with this process's arguments."""
    preload()
    from granian import cli

    sys.argv[0] = "granian"
    sys.exit(cli.entrypoint())  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()

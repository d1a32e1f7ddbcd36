"""Run a benchmark: ``python -m bench <subcommand> [options]`` (``python -m bench <subcommand> --help`` for each).

Run from the checkout with the project's venv (``make test`` makes it): ``.venv/bin/python -m bench prod``.
The results and the commands they were taken with are in ``bench/RESULTS.md``.

A benchmark is a module of this package with a docstring (its first line is the
subcommand's help, the whole of it the description), ``add_arguments(parser)``
and ``run(args)``; to add one, write the module and give it a line in
``COMMANDS``. What they share (the generated sites, the server commands,
processes stopped by their group, /proc readings, report headers) is in
``bench/common.py``; the HTTP probes in ``bench/probe.py``.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Sequence

#: Subcommand → its module.
COMMANDS = {
    "prod": "bench.prod",
    "build": "bench.build",
    "serve": "bench.serve",
    "publish": "bench.publish",
    "load": "bench.load",
    "hugo": "bench.vs_hugo",
    "site": "bench.site",
    "state": "bench.state_index",
    "flush": "bench.flush",
    "plan": "bench.plan",
    "stop": "bench.stops",
    "scale": "bench.scale",
    "fediverse": "bench.fediverse",
    "heap": "bench.heap",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    argv = list(sys.argv[1:] if argv is None else argv)
    # Import only the chosen benchmark: what it imports (boto3, the service) is not started, or timed, for nothing.
    chosen = [argv[0]] if argv and argv[0] in COMMANDS else list(COMMANDS)
    for name in chosen:
        module = importlib.import_module(COMMANDS[name])
        doc = module.__doc__ or name
        sub = commands.add_parser(name, help=doc.splitlines()[0], description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    # A benchmark stopped with SIGTERM (timeout, kill) still stops its servers: its finally blocks run.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

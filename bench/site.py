"""Write the synthetic site of the benchmarks: N posts into OUT (``tests/sitegen.py``; the same bytes on every run).

The benchmarks make their own sites (``bench/.work/site-N``); this is for
measuring something else on the same posts (``bench/MARKDOWN.md``, Hugo alone).
Existing files in OUT are overwritten but never deleted.
"""

from __future__ import annotations

import argparse
import sys

from tests.sitegen import generate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("n", type=int, metavar="N", help="number of posts")
    parser.add_argument("out", metavar="OUT", help="output folder (created if missing)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    parser.add_argument("--words", type=int, default=1050, help="about how many words a post has (default: 1050)")


def run(args: argparse.Namespace) -> None:
    if args.n < 0:
        raise SystemExit("N must be >= 0")
    paths = generate(args.n, args.out, args.seed, args.words)
    print(f"wrote {len(paths)} posts to {args.out}", file=sys.stderr)

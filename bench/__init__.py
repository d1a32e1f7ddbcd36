"""Benchmarks, run by hand (never in ``make test``): ``python -m bench <subcommand>``; see ``bench/__main__.py``."""

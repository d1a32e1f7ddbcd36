"""feeds: RSS 2.0, Atom 1.0 and JSON Feed 1.1 from a folder of Markdown posts."""

__version__ = "0.1.0"

"""Bytes → an immutable snapshot: its files, its manifest, the static export."""

"""Every bound on input from files, HTTP or remote servers, by name (the manual's "Limits" page lists them)."""

from __future__ import annotations

# -- Podcasts (issue 20) ---------------------------------------------------------------------

#: Files served from the media folder at most; past it, the rest are left out and reported (a hash and a manifest row each).
MEDIA_FILES = 10_000
#: Largest media file served, in bytes (8 GiB: a long episode in video); bigger ones are left out and reported.
MEDIA_FILE_SIZE = 8 << 30
#: Folder depth inside the media folder; deeper folders are not walked.
MEDIA_DEPTH = 8
#: Byte ranges one request may ask for; a Range header with more is ignored (a 200 with the whole file).
RANGES = 16
#: Transcripts one episode may list.
TRANSCRIPTS = 8
#: Funding links one show may list.
FUNDING = 8
#: Bytes of an image read to find its width and height (a JPEG's frame header may follow large metadata).
IMAGE_HEADER = 256 << 10

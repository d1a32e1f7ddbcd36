"""Posts → bytes: Markdown, the feed formats, the HTML pages and OPML."""

"""Posts → bytes, pure: Markdown, sanitized HTML and the feed documents."""

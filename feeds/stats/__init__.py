"""Subscriber counting: User-Agent reports, direct readers, fediverse followers; pure logic and repositories over feeds.db."""

"""The numbered migrations of the one schema: ``m0001_base`` (subscriber counts, leases), then ``m0002_…`` (fediverse)."""

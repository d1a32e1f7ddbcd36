"""Background work beside serving: publishing the snapshot to a bucket."""

"""The errors of the service: the builder and its helper processes, the bucket, stopping."""

from __future__ import annotations

from feeds.errors import FeedsError


class NotRendered(FeedsError):
    """A post's rendering is not in the render store (removed or damaged since it was written)."""

    def __init__(self, source: str, key: str) -> None:
        super().__init__(f"{source}: not rendered (render store entry {key} missing)")
        self.source = source
        self.keys = {key}

    def __reduce__(self) -> tuple[type[NotRendered], tuple[str, str]]:  # crosses back from a helper process
        return (type(self), (self.source, next(iter(self.keys))))


class RewrittenHistory(FeedsError):
    """The content branch was force-pushed: its new commit does not descend from the published one."""

    def __init__(self, published: str, fetched: str) -> None:
        super().__init__(
            f"the content branch was force-pushed: {fetched[:12]} does not descend from the published {published[:12]}; "
            "keeping the last snapshot (POST /-/rebuild?force=1 publishes the new history)"
        )
        self.published, self.fetched = published, fetched

    def __reduce__(self) -> tuple[type[RewrittenHistory], tuple[str, str]]:
        return (type(self), (self.published, self.fetched))


class PublishError(FeedsError):
    """A publish to the bucket stopped; names the object (or document) at fault. The bucket's manifest still holds."""

    def __init__(self, key: str, message: str, bucket: str | None = None) -> None:
        super().__init__(f"{f's3://{bucket}/' if bucket else ''}{key}: {message}")
        self.key, self.message, self.bucket = key, message, bucket

    def __reduce__(self) -> tuple[type[PublishError], tuple[str, str, str | None]]:
        return (type(self), (self.key, self.message, self.bucket))


class Cancelled(FeedsError):
    """A build stopped between two documents because the service is stopping; nothing of it was published."""

    def __init__(self, message: str = "the build was cancelled: the service is stopping") -> None:
        super().__init__(message)


class Unavailable(FeedsError):
    """A document cannot be answered for a moment: its body is gone (the snapshot folder was removed) and not back yet."""

    def __init__(self, path: str, retry_after: int = 1) -> None:
        super().__init__(f"{path}: the body is being published again; try again in a moment")
        self.path, self.retry_after = path, retry_after

    def __reduce__(self) -> tuple[type[Unavailable], tuple[str, int]]:
        return (type(self), (self.path, self.retry_after))

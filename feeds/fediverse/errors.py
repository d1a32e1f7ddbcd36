"""The fediverse stage's errors, in one place; each names what it is about and never echoes unbounded input."""

from __future__ import annotations

from feeds.errors import FeedsError


class FediverseError(FeedsError):
    """Base of the fediverse stage's errors."""


class SignatureError(FediverseError):
    """A request's HTTP signature is missing, malformed, stale or wrong (answered 401)."""


class RefusedError(FediverseError):
    """A remote address or domain we may not reach or hear from (SSRF rules, blocked domains); answered 403."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url[:200]}: {reason}")
        self.url = url[:200]
        self.reason = reason

    def __reduce__(self) -> tuple[type[RefusedError], tuple[str, str]]:
        # Rebuilt from its arguments, not from str(self), like every error of the package (docs/errors.md).
        return (type(self), (self.url, self.reason))


class FetchError(FediverseError):
    """A remote document could not be fetched or is not what we need; names the URL and the cause."""

    def __init__(self, url: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"{url[:200]}: {reason}")
        self.url = url[:200]
        self.reason = reason
        #: The HTTP status, when the server answered.
        self.status = status

    def __reduce__(self) -> tuple[type[FetchError], tuple[str, str, int | None]]:
        return (type(self), (self.url, self.reason, self.status))


class ActivityError(FediverseError):
    """An incoming activity is not one we can act on (answered 400); names the field at fault."""

"""Push webhooks from GitHub, Gitea/Forgejo and GitLab: verify the signature, read the pushed ref.

Pure functions over header strings and the raw body (no Flask), for
``POST /-/rebuild`` when ``webhook_secret`` is set. Every comparison of a
secret or a signature is constant-time (``hmac.compare_digest``), over the
bytes as received (PEP 3333: WSGI hands header values over as latin-1).

- GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``, event in ``X-GitHub-Event``.
  https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
  https://docs.github.com/en/webhooks/webhook-events-and-payloads#delivery-headers
- Gitea: ``X-Gitea-Signature: <hex HMAC-SHA256 of the raw body>``, event in ``X-Gitea-Event``;
  Forgejo sends the same value as ``X-Forgejo-Signature`` (and ``X-Gitea-Signature``), event in ``X-Forgejo-Event``.
  Both also send GitHub's headers; their own signature header, when present, is the one checked.
  https://docs.gitea.com/usage/webhooks  https://forgejo.org/docs/latest/user/webhooks/
- GitLab: ``X-Gitlab-Token: <the secret itself>`` (no signature), event in ``X-Gitlab-Event: Push Hook``.
  https://docs.gitlab.com/user/project/integrations/webhooks/#validate-payloads-by-using-a-secret-token

None of these signs a timestamp, so a captured delivery can be replayed for
ever: each delivery acted on is remembered by its id and by the digest of its
signed body (:mod:`feeds.service.deliveries`), and a replay within the window is
answered without a rescan. The id headers: ``X-GitHub-Delivery`` (the same on a
redelivery: https://docs.github.com/en/webhooks/webhook-events-and-payloads#delivery-headers),
``X-Forgejo-Delivery`` and ``X-Gitea-Delivery`` (Forgejo sends all three, with one
value), ``X-Gitlab-Event-UUID``, else GitLab's ``Idempotency-Key`` (kept across its retries:
https://docs.gitlab.com/user/project/integrations/webhooks/#delivery-headers).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Literal
from urllib.parse import parse_qs

from feeds.limits import MAX_DELIVERY_ID

Provider = Literal["github", "gitea", "gitlab"]

#: The delivery id headers of each provider, the first present one is used.
_DELIVERIES: dict[Provider, tuple[str, ...]] = {
    "github": ("x-github-delivery",),
    "gitea": ("x-forgejo-delivery", "x-gitea-delivery", "x-github-delivery"),
    "gitlab": ("x-gitlab-event-uuid", "idempotency-key"),
}

#: The event header of each provider, and the value it has for a push.
_EVENTS: dict[Provider, tuple[tuple[str, ...], str]] = {
    "github": (("x-github-event",), "push"),
    "gitea": (("x-forgejo-event", "x-gitea-event", "x-github-event"), "push"),
    "gitlab": (("x-gitlab-event",), "push hook"),
}


def verify_signature(headers: Mapping[str, str], body: bytes, secret: str) -> Provider | None:
    """Return the provider whose signature (or token) header is present and valid for ``body``; else None."""
    if not secret:
        return None
    lower = {name.lower(): value for name, value in headers.items()}
    key = secret.encode("utf-8")
    # Forgejo's, then Gitea's own header first: a bad one is not rescued by a good GitHub-style one.
    for name in ("x-forgejo-signature", "x-gitea-signature"):
        if name in lower:
            given = raw(lower[name].strip()).lower().removeprefix(b"sha256=")
            return "gitea" if hmac.compare_digest(given, _hmac_hex(key, body)) else None
    if "x-hub-signature-256" in lower:
        given = raw(lower["x-hub-signature-256"].strip()).lower()
        return "github" if hmac.compare_digest(given, b"sha256=" + _hmac_hex(key, body)) else None
    if "x-gitlab-token" in lower:
        return "gitlab" if hmac.compare_digest(raw(lower["x-gitlab-token"]), key) else None
    return None


def verify_push(headers: Mapping[str, str], body: bytes, secret: str) -> Provider | None:
    """Return the provider when the request is a validly signed *push* webhook; else None.

    Other signed events (GitHub's ``ping`` when a hook is created, issues, …)
    give None too; :func:`verify_signature` tells them apart from forgeries.
    """
    provider = verify_signature(headers, body, secret)
    if provider is None:
        return None
    return provider if event_of(provider, headers) == _EVENTS[provider][1] else None


def event_of(provider: Provider, headers: Mapping[str, str]) -> str | None:
    """Return the event name the provider put in its event header (lower case), if any."""
    lower = {name.lower(): value for name, value in headers.items()}
    for name in _EVENTS[provider][0]:
        if name in lower:
            return lower[name].strip().lower()
    return None


def push_ref(provider: Provider, body: bytes) -> str | None:
    """Return the ref a push webhook names (``refs/heads/main``), or None if the body has none.

    All three providers put it in the payload's ``ref``. GitHub may send the
    JSON form-encoded (``payload=…``) when the hook's content type says so.
    """
    text = body.decode("utf-8", "replace").strip()
    if provider == "github" and text.startswith("payload="):
        text = (parse_qs(text).get("payload") or [""])[0]
    try:
        payload = json.loads(text)
    except ValueError:
        return None
    ref = payload.get("ref") if isinstance(payload, dict) else None
    return ref if isinstance(ref, str) and ref else None


def delivery_keys(provider: Provider, headers: Mapping[str, str], body: bytes) -> list[str]:
    """What a delivery is remembered by: the digest of its signed body, and its delivery id when it has a usable one."""
    keys = [f"body:{hashlib.sha256(body).hexdigest()}"]
    lower = {name.lower(): value for name, value in headers.items()}
    found = next((lower[name].strip() for name in _DELIVERIES[provider] if name in lower), "")
    if found and len(found) <= MAX_DELIVERY_ID and found.isprintable():
        keys.append(f"id:{provider}:{found}")
    return keys


def sign(body: bytes, secret: str) -> str:
    """Return the hex HMAC-SHA256 a provider sends for ``body`` (tests, and to try a hook by hand)."""
    return _hmac_hex(secret.encode("utf-8"), body).decode("ascii")


def _hmac_hex(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).hexdigest().encode("ascii")


def raw(value: str) -> bytes:
    """Return the bytes a header value arrived as (PEP 3333: WSGI decodes them as latin-1)."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape")

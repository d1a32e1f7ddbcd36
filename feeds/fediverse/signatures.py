"""HTTP Signatures as Mastodon signs and verifies them: draft-cavage-http-signatures-12, rsa-sha256.

https://datatracker.ietf.org/doc/html/draft-cavage-http-signatures-12 and
https://docs.joinmastodon.org/spec/security/#http — a POST signs
``(request-target) host date digest`` with ``Digest: SHA-256=<base64>`` of the body;
a GET signs ``(request-target) host date``. Pure functions over header values: the
inbox and the delivery worker hand in the request's parts, nothing here does I/O.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from feeds import limits
from feeds.fediverse.errors import SignatureError

#: What we sign, and what we require signed on an incoming POST (Mastodon's own choice).
POST_HEADERS = ("(request-target)", "host", "date", "digest")
GET_HEADERS = ("(request-target)", "host", "date")
_PARAM = re.compile(r'\s*([a-zA-Z]+)\s*=\s*"([^"]*)"\s*(?:,|$)')
#: Algorithms that mean RSASSA-PKCS1-v1_5 with SHA-256 here: "hs2019" leaves it to the key (Mastodon's reading).
_ALGORITHMS = frozenset({"rsa-sha256", "hs2019"})


@dataclass(frozen=True)
class SignatureParams:
    """A parsed ``Signature`` header."""

    key_id: str
    #: Lower-case header names, in the order signed.
    headers: tuple[str, ...]
    signature: bytes
    algorithm: str | None = None


def generate_key() -> rsa.RSAPrivateKey:
    """Make an RSA-2048 key pair (the size Mastodon makes for its accounts)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode("ascii")


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def load_private(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SignatureError("the stored private key is not an RSA key")
    return key


def load_public(pem: str) -> rsa.RSAPublicKey:
    """Read a remote actor's ``publicKeyPem``; SignatureError when it is no RSA public key we accept."""
    if len(pem) > limits.MAX_PUBLIC_KEY_PEM:
        raise SignatureError("the public key is too long")
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError, TypeError) as e:
        raise SignatureError("the public key is not a PEM public key") from e
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 2048:
        raise SignatureError("the public key is not an RSA key of at least 2048 bits")
    return key


def digest_header(body: bytes) -> str:
    """The ``Digest`` header of a body (RFC 3230, as Mastodon sends it)."""
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def http_date(when: datetime | None = None) -> str:
    return email.utils.format_datetime((when or datetime.now(UTC)).astimezone(UTC), usegmt=True)


def signing_string(method: str, target: str, headers: Mapping[str, str], names: tuple[str, ...]) -> str:
    """The text signed: one ``name: value`` line per signed header; ``target`` is the path and query."""
    lines = []
    for name in names:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {target}")
            continue
        value = headers.get(name)
        if value is None:
            raise SignatureError(f"the signed header {name[:40]!r} is missing")
        lines.append(f"{name}: {value.strip()}")
    return "\n".join(lines)


def sign(
    key: rsa.RSAPrivateKey, key_id: str, method: str, target: str, host: str, body: bytes | None = None, now: datetime | None = None
) -> dict[str, str]:
    """Return the headers that sign a request (``Date``, ``Digest`` for a body, ``Signature``); ``host`` as in the Host header."""
    headers = {"host": host, "date": http_date(now)}
    names: tuple[str, ...] = GET_HEADERS
    if body is not None:
        headers["digest"] = digest_header(body)
        names = POST_HEADERS
    text = signing_string(method, target, headers, names)
    signature = base64.b64encode(key.sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())).decode("ascii")
    out = {
        "Date": headers["date"],
        "Signature": f'keyId="{key_id}",algorithm="rsa-sha256",headers="{" ".join(names)}",signature="{signature}"',
    }
    if body is not None:
        out["Digest"] = headers["digest"]
    return out


def parse(header: str | None) -> SignatureParams:
    """Parse a ``Signature`` header (or an ``Authorization: Signature …`` value); SignatureError when it is not one."""
    if not header:
        raise SignatureError("the request is not signed")
    if len(header) > limits.MAX_SIGNATURE_HEADER:
        raise SignatureError("the Signature header is too long")
    if header[:10].lower() == "signature ":
        header = header[10:]
    params = {name.lower(): value for name, value in _PARAM.findall(header)}
    key_id, signature = params.get("keyid"), params.get("signature")
    if not key_id or not signature:
        raise SignatureError("the Signature header lacks keyId or signature")
    if len(key_id) > limits.MAX_REMOTE_URL or not key_id.startswith(("https://", "http://")):
        raise SignatureError("the keyId is not an http(s) URL")
    try:
        raw = base64.b64decode(signature, validate=True)
    except ValueError as e:
        raise SignatureError("the signature is not base64") from e
    algorithm = params.get("algorithm")
    if algorithm is not None and algorithm.lower() not in _ALGORITHMS:
        raise SignatureError(f"unsupported signature algorithm {algorithm[:40]!r} (rsa-sha256 only)")
    names = tuple(params.get("headers", "date").lower().split())
    return SignatureParams(key_id, names, raw, algorithm)


def check_request(
    params: SignatureParams, method: str, headers: Mapping[str, str], body: bytes | None, now: datetime | None = None
) -> None:
    """Check everything but the key: the signed headers, the Date window and the body's Digest; SignatureError if wrong.

    ``headers`` has lower-case names. A POST must sign ``(request-target)``, ``host``,
    ``date`` and ``digest``, and the digest must be the body's SHA-256.
    """
    required = POST_HEADERS if body is not None else GET_HEADERS
    missing = [name for name in required if name not in params.headers]
    if missing:
        raise SignatureError(f"the signature does not cover {' '.join(missing)}")
    date = headers.get("date")
    try:
        sent = email.utils.parsedate_to_datetime(date or "")
    except (TypeError, ValueError, IndexError) as e:
        raise SignatureError("the Date header is missing or not an HTTP date") from e
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    age = ((now or datetime.now(UTC)) - sent).total_seconds()
    if age > limits.SIGNATURE_MAX_AGE:
        raise SignatureError(f"the Date is {int(age)} s old (at most {limits.SIGNATURE_MAX_AGE} s)")
    if -age > limits.SIGNATURE_MAX_FUTURE:
        raise SignatureError(f"the Date is {int(-age)} s ahead (at most {limits.SIGNATURE_MAX_FUTURE} s)")
    if body is not None:
        expected = hashlib.sha256(body).digest()
        found = False
        for part in (headers.get("digest") or "").split(","):
            algorithm, _, value = part.strip().partition("=")
            if algorithm.lower() == "sha-256":
                try:
                    found = base64.b64decode(value, validate=True) == expected
                except ValueError:
                    found = False
                if not found:
                    raise SignatureError("the Digest does not match the body")
        if not found:
            raise SignatureError("the request has no SHA-256 Digest")


def verify(params: SignatureParams, key: rsa.RSAPublicKey, method: str, target: str, headers: Mapping[str, str]) -> bool:
    """Whether ``params.signature`` signs the request's signing string with ``key``."""
    text = signing_string(method, target, headers, params.headers)
    try:
        key.verify(params.signature, text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True

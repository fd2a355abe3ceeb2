"""IETF Token Status List (draft-ietf-oauth-status-list): revocation a verifier checks without naming anyone.

A status list is a bit array, one bit per credential (``bits: 1``: 0 valid, 1 invalid), compressed with
zlib (DEFLATE with the zlib header, RFC 1950) and base64url-encoded as ``lst``; bit ``idx`` is bit ``idx % 8``
(the least significant first) of byte ``idx // 8``. The list travels as a JWT of type ``statuslist+jwt``
signed with the issuer key, whose ``sub`` is the list's own URI (the one every credential names in
``status.status_list``).

Every list is ``SIZE`` entries long whatever is issued, and a credential's index is drawn at random: the list
says nothing about how many credentials exist or in which order they were issued, and a verifier fetching it
learns nothing about which credential it is checking (draft §12, herd privacy).
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterable
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

TYP: Final = "statuslist+jwt"
SIZE: Final = 1 << 17  # 131,072 entries: 16 KiB of bits, a few hundred bytes once compressed while sparse
BITS: Final = 1
VALID: Final = 0
INVALID: Final = 1
TTL_SECONDS: Final = 300  # how long a verifier may cache the token (``ttl``); ``exp`` is a day


class StatusListError(ValueError):
    """A status list token that does not verify, is not for this URI, or does not cover the index."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(invalid: Iterable[int], size: int = SIZE) -> str:
    """``lst`` for a list of ``size`` entries where exactly the indices in ``invalid`` are set."""
    array = bytearray(size // 8)
    for idx in invalid:
        if not 0 <= idx < size:
            raise ValueError("status index outside the list")
        array[idx // 8] |= 1 << (idx % 8)
    return _b64url(zlib.compress(bytes(array), 9))


def decode(lst: str, max_bytes: int = SIZE // 8) -> bytes:
    """The raw bit array of ``lst`` (refusing one that inflates past ``max_bytes``: a zip bomb)."""
    inflater = zlib.decompressobj()
    data = inflater.decompress(_b64url_decode(lst), max_bytes + 1)
    if len(data) > max_bytes or not inflater.eof:
        raise StatusListError("status list too large or truncated")
    return data


def status_at(array: bytes, idx: int) -> int:
    if not 0 <= idx < len(array) * 8:
        raise StatusListError("status index outside the list")
    return (array[idx // 8] >> (idx % 8)) & 1


def token(uri: str, invalid: Iterable[int], key: ec.EllipticCurvePrivateKey, kid: str, now: int) -> str:
    """The signed status list token for ``uri``."""
    claims: dict[str, Any] = {
        "sub": uri,
        "iat": now,
        "exp": now + 86_400,
        "ttl": TTL_SECONDS,
        "status_list": {"bits": BITS, "lst": encode(invalid)},
    }
    return jwt.encode(claims, key, algorithm="ES256", headers={"typ": TYP, "kid": kid})


def read(text: str, uri: str, public_key: ec.EllipticCurvePublicKey) -> bytes:
    """Verify a status list token (signature, ``typ``, ``sub``, ``exp``) and give its bit array."""
    try:
        header = jwt.get_unverified_header(text)
        if header.get("typ") != TYP:
            raise StatusListError("not a status list token")
        claims = jwt.decode(text, public_key, algorithms=["ES256"], options={"require": ["sub", "iat"]})
    except jwt.PyJWTError as exc:
        raise StatusListError(type(exc).__name__) from None
    if claims.get("sub") != uri:
        raise StatusListError("status list token for another list")
    listed = claims.get("status_list")
    if not isinstance(listed, dict) or listed.get("bits") != BITS or not isinstance(listed.get("lst"), str):
        raise StatusListError("status list of another shape")
    return decode(listed["lst"])

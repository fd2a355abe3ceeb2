"""Verification codes: short, unguessable, derivable by the hub alone, stored only as a hash.

A code is an HMAC of the message id under the hub's data key (labelled, like the CSRF tokens, so the key's
other uses are not exposed), cut to 12 characters of Crockford's base32 (60 bits: with the verify endpoint's
rate limit, guessing one is out of reach). Deriving rather than drawing at random means the code is never
stored anywhere: the worker writes its hash when it delivers, the inbox derives it again to show it, and a
database reader learns no code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Final

LENGTH: Final = 12
_LABEL: Final = b"gongyu-notice-code:"
_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_STANDARD: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_CROCKFORD: Final = str.maketrans(_STANDARD, _CROCKFORD)
# What a person may type instead of the canonical character (Crockford: O→0, I/L→1), hyphens and spaces apart.
_READ_AS: Final = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})


def notice_code(key: bytes, message_id: str) -> str:
    """The code of one message, as shown to people: ``XXXX-XXXX-XXXX``."""
    digest = hmac.new(key, _LABEL + message_id.encode(), hashlib.sha256).digest()
    raw = base64.b32encode(digest).decode().translate(_TO_CROCKFORD)[:LENGTH]
    return "-".join(raw[i : i + 4] for i in range(0, LENGTH, 4))


def normalise(code: str) -> str | None:
    """The canonical 12 characters of a typed code, or None if it cannot be one."""
    text = code.strip().upper().translate(_READ_AS)
    if len(text) != LENGTH or any(c not in _CROCKFORD for c in text):
        return None
    return text


def code_hash(code: str) -> str | None:
    """What the outbox stores and the verification looks up (None for text that is not a code)."""
    canonical = normalise(code)
    return hashlib.sha256(canonical.encode()).hexdigest() if canonical else None

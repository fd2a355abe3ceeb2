"""Keyed commitments to subjects, so the log can say "the same person" without saying who.

HMAC-SHA256 under a pepper kept outside the database: resident numbers have little entropy (birth date + a few
digits), so an unkeyed hash would be reversed by enumeration in minutes.
"""

from __future__ import annotations

import hashlib
import hmac


class SubjectCommitter:
    def __init__(self, pepper: bytes) -> None:
        if len(pepper) < 32:
            raise ValueError("the audit pepper must be at least 32 bytes")
        self._pepper = pepper

    def commit(self, normalized_identifier: str) -> str:
        return hmac.new(self._pepper, normalized_identifier.encode("ascii"), hashlib.sha256).hexdigest()

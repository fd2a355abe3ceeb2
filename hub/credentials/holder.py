"""What a wallet does with a credential: hold a P-256 key pair, and present chosen fields with key binding.

Used by ``gongyu credentials holder`` and the tests; a real wallet does the same with its own key store. The
presentation is made by the reference ``sd-jwt`` package (``SDJWTHolder``): the issuer-signed JWT, the
disclosures of the chosen top-level claims, and a key-binding JWT over them for one verifier (``aud``) and
one of its challenges (``nonce``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from jwcrypto.jwk import JWK
from sd_jwt.holder import SDJWTHolder

from hub.credentials.keys import ALG


def keygen() -> dict[str, Any]:
    """A fresh P-256 key pair as a private JWK (keep it: ``cnf`` names its public half)."""
    key = JWK.generate(kty="EC", crv="P-256")
    private: dict[str, Any] = json.loads(key.export_private())
    return private


def public_jwk(private: dict[str, Any]) -> dict[str, Any]:
    return {name: private[name] for name in ("kty", "crv", "x", "y")}


def disclosable(credential: str) -> list[str]:
    """The claim names a credential's disclosures open (what ``--disclose`` may name)."""
    holder = SDJWTHolder(credential)
    names = [d[1] for d in holder._hash_to_decoded_disclosure.values() if len(d) == 3]
    return sorted(names)


def present(
    credential: str, disclose: Iterable[str], audience: str, nonce: str, private: dict[str, Any]
) -> str:
    """A presentation of ``credential`` opening only the claims named in ``disclose``."""
    holder = SDJWTHolder(credential)
    chosen = {name: True for name in disclose}
    holder.create_presentation(chosen, nonce=nonce, aud=audience, holder_key=JWK(**private), sign_alg=ALG)
    presentation: str = holder.sd_jwt_presentation
    return presentation

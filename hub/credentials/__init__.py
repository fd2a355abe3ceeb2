"""Credentials the resident holds: a document as an SD-JWT VC (RFC 9901) in their own wallet.

``service`` issues (through the broker's audited lookup, like a self-issued e-document), revokes and
verifies; ``status_list`` is the IETF Token Status List that carries revocation to verifiers; ``models`` the
tables; ``keys`` the issuer's signing key; ``holder`` what a wallet does (key pair, presentation), for the CLI
and the tests.
"""

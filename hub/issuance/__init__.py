"""Stamped e-documents: issuance numbers, signed QR payloads, signed and timestamped PDFs, verification.

Modelled on Minwon 24's anti-forgery stamp (time stamp, 2D barcode, issuance number, anti-copy background) but
verifiable with open standards: COSE_Sign1 in the QR (as the EU Digital COVID Certificate), PAdES B-T in the
PDF and an RFC 3161 time-stamping authority. The pure codecs (``numbers``, ``qr``, ``verify``) do no I/O;
the service owns the ``issuances`` table and calls the broker, so every issued field went through an audited
lookup.
"""

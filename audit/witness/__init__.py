"""An independent C2SP tlog-witness (https://c2sp.org/tlog-witness) for the audit log, and its protocol.

A witness holds its own Ed25519 key and its own state database and cosigns a log's checkpoint only when it is
an append-only extension of the last checkpoint it cosigned for that log. Residents who require a quorum of
such cosignatures cannot be shown a history the witnesses never saw, so the operator cannot show two different
logs to two people without one of the witnesses holding the evidence.

The package stands apart from the hub (an import-linter contract holds it to that): ``protocol`` is the pure
wire and signature format the hub also uses, ``state`` the witness's SQLite file, ``server`` the HTTP face.
"""

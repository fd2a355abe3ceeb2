"""The audit log: durable append now; Merkle tree, checkpoints and proofs build on the same rows."""

from audit.commitment import SubjectCommitter
from audit.events import AuditEvent, EventRef
from audit.log import AuditLog, AuditUnavailable

__all__ = ["AuditEvent", "AuditLog", "AuditUnavailable", "EventRef", "SubjectCommitter"]

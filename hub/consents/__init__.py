"""The hub's consent application service: requests, decisions, consents, receipts and mandates.

It lives in ``hub`` rather than ``consent`` because it needs hub-only pieces: the accounts and clients
(``hub.auth``), the document catalog for validation and descriptions, and the audit trail that every
decision is written with. The consent rules and their SQL stay in the ``consent`` package.
"""

from hub.consents.schemas import ConsentRequestIn, DecisionIn, DocumentRef, MandateIn
from hub.consents.service import ConsentApp, consent_problem

__all__ = ["ConsentApp", "ConsentRequestIn", "DecisionIn", "DocumentRef", "MandateIn", "consent_problem"]

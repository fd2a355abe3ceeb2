"""Who may see what: statutory bases, consents and mandates."""

from consent.decisions import Actor, Basis, Decision
from consent.records import ConsentView, RequestView
from consent.repository import GuardedUse
from consent.service import Authorizer, ConsentError, ConsentService, Resident, StatutoryAuthorizer

__all__ = [
    "Actor",
    "Authorizer",
    "Basis",
    "ConsentError",
    "ConsentService",
    "ConsentView",
    "Decision",
    "GuardedUse",
    "RequestView",
    "Resident",
    "StatutoryAuthorizer",
]

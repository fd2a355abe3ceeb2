"""Who may see what: statutory bases now, consents and mandates next."""

from consent.decisions import Actor, Basis, Decision
from consent.service import Authorizer, ConsentService, StatutoryAuthorizer

__all__ = ["Actor", "Authorizer", "Basis", "ConsentService", "Decision", "StatutoryAuthorizer"]

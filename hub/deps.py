"""Request dependencies: the hub state and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from hub.auth.tokens import BEARER_CHALLENGE, ClientPrincipal
from hub.errors import Problem
from hub.state import HubState


def get_state(request: Request) -> HubState:
    state: HubState = request.app.state.hub
    return state


def current_client(request: Request, state: Annotated[HubState, Depends(get_state)]) -> ClientPrincipal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Problem(401, "unauthorized", headers=BEARER_CHALLENGE)
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "invalid-token", headers=BEARER_CHALLENGE)
    principal = state.tokens.verify(token.strip())
    request.scope.setdefault("state", {})["client_id"] = principal.client_id
    return principal


StateDep = Annotated[HubState, Depends(get_state)]
ClientDep = Annotated[ClientPrincipal, Depends(current_client)]

"""Request dependencies: the hub state and the authenticated caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth.tokens import BEARER_CHALLENGE, AccountPrincipal, ClientPrincipal
from hub.errors import Problem
from hub.state import HubState
from hub.uow import request_unit


async def get_state(request: Request) -> HubState:
    state: HubState = request.app.state.hub
    return state


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed after the route returns and before the response is sent.

    ``scope="function"`` (below) is what makes FastAPI run the commit before sending: a response is only
    ever sent for a transaction that committed. An exception from the route rolls everything back.
    """
    state: HubState = request.app.state.hub
    async with request_unit(state.sessions) as session:
        yield session


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Problem(401, "unauthorized", headers=BEARER_CHALLENGE)
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "invalid-token", headers=BEARER_CHALLENGE)
    return token.strip()


async def current_account(
    request: Request, state: Annotated[HubState, Depends(get_state)]
) -> AccountPrincipal:
    return state.tokens.verify_account(_bearer(request))


async def current_resident(
    account: Annotated[AccountPrincipal, Depends(current_account)],
) -> AccountPrincipal:
    if account.role != "resident" or not account.subject_commitment:
        raise Problem(403, "role-required", role="resident")
    return account


async def current_auditor(account: Annotated[AccountPrincipal, Depends(current_account)]) -> AccountPrincipal:
    if account.role != "auditor":
        raise Problem(403, "role-required", role="auditor")
    return account


def client_of(request: Request, state: HubState) -> ClientPrincipal:
    """The bank or agency the bearer token names (401 otherwise), noted in the request for the access log."""
    principal = state.tokens.verify(_bearer(request))
    request.scope.setdefault("state", {})["client_id"] = principal.client_id
    return principal


async def current_client(request: Request, state: Annotated[HubState, Depends(get_state)]) -> ClientPrincipal:
    return client_of(request, state)


StateDep = Annotated[HubState, Depends(get_state)]
SessionDep = Annotated[AsyncSession, Depends(request_session, scope="function")]
ClientDep = Annotated[ClientPrincipal, Depends(current_client)]
AccountDep = Annotated[AccountPrincipal, Depends(current_account)]
ResidentDep = Annotated[AccountPrincipal, Depends(current_resident)]
AuditorDep = Annotated[AccountPrincipal, Depends(current_auditor)]

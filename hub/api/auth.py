"""OAuth2 token endpoint (RFC 6749 §4.4 client credentials, client_secret_basic), account sign-in, sign-out.

Both credential checks are throttled (``hub.ratelimit``): per client id or account name and per source
address, failures lead to 429 with ``Retry-After`` and an exponentially growing wait; a success clears it.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from hub.auth.accounts import authenticate_account
from hub.auth.clients import authenticate_client
from hub.auth.tokens import BEARER_CHALLENGE
from hub.deps import SessionDep, StateDep
from hub.errors import Problem
from hub.ratelimit import GuardDep, client_address
from hub.schemas import TokenResponse

router = APIRouter(prefix="/v1/auth", tags=["auth"])
_BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="gongyu"'}


def _basic_credentials(request: Request) -> tuple[str, str]:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        raise Problem(401, "invalid-client", headers=_BASIC_CHALLENGE, extra={"error": "invalid_client"})
    try:
        client_id, sep, secret = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        sep, client_id, secret = "", "", ""
    if not sep or not client_id:
        raise Problem(401, "invalid-client", headers=_BASIC_CHALLENGE, extra={"error": "invalid_client"})
    # RFC 6749 §2.3.1: both parts are form-urlencoded before being joined.
    client_id, secret = unquote(client_id), unquote(secret)
    if "\x00" in client_id or "\x00" in secret:  # no client has one; PostgreSQL text cannot even hold it
        raise Problem(401, "invalid-client", headers=_BASIC_CHALLENGE, extra={"error": "invalid_client"})
    return client_id, secret


@router.post(
    "/token",
    response_model=TokenResponse,
    responses={
        401: {"description": "client authentication failed"},
        400: {"description": "bad grant"},
        429: {"description": "too many failed attempts for this client or from this address"},
    },
)
async def issue_token(
    request: Request, state: StateDep, db: SessionDep, guard: GuardDep, grant_type: str = Form(...)
) -> JSONResponse:
    client_id, secret = _basic_credentials(request)
    if grant_type != "client_credentials":
        raise Problem(400, "unsupported-grant-type", extra={"error": "unsupported_grant_type"})
    async with guard.sign_in.attempt(address=client_address(request), client_id=client_id) as attempt:
        client = await authenticate_client(db, client_id, secret)
        if client is None:
            raise Problem(401, "invalid-client", headers=_BASIC_CHALLENGE, extra={"error": "invalid_client"})
        attempt.succeeded()
    token = state.tokens.issue(client.client_id, client.kind, client.org, list(client.statutes))
    body = TokenResponse(access_token=token, expires_in=state.tokens.ttl_seconds)
    return JSONResponse(body.model_dump(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


@router.post(
    "/login",
    responses={
        401: {"description": "unknown user or wrong password"},
        429: {"description": "too many failed attempts for this name or from this address"},
    },
)
async def login(
    body: LoginRequest, request: Request, state: StateDep, db: SessionDep, guard: GuardDep
) -> JSONResponse:
    """Sign a local account in (embedded default) and return a short-lived bearer token for the API."""
    async with guard.sign_in.attempt(address=client_address(request), name=body.username) as attempt:
        account = await authenticate_account(db, body.username, body.password)
        if account is None:
            raise Problem(401, "invalid-credentials")
        attempt.succeeded()
    token = state.tokens.issue_account(
        account.account_id, account.role, account.display_name, account.org, account.subject_commitment
    )
    return JSONResponse(
        {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": state.tokens.ttl_seconds,
            "role": account.role,
        },
        headers={"Cache-Control": "no-store"},
    )


@router.post(
    "/logout",
    status_code=204,
    response_class=Response,
    responses={401: {"description": "missing, expired, forged or already signed-out token"}},
)
async def logout(request: Request, state: StateDep) -> Response:
    """Sign a bearer token out (an account's or a client's): it is refused from now until it would expire.

    Tokens are self-contained, so this is what makes "sign out" mean something on the server: the token's
    ``jti`` is denied (``hub.auth.revocation``), in the store shared by all workers when one is configured.
    """
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "unauthorized", headers=BEARER_CHALLENGE)
    state.tokens.revoke(token.strip())
    return Response(status_code=204, headers={"Cache-Control": "no-store"})

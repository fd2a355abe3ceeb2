"""OAuth2 token endpoint (RFC 6749 §4.4 client credentials, client_secret_basic)."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from hub.auth.accounts import authenticate_account
from hub.auth.clients import authenticate_client
from hub.deps import SessionDep, StateDep
from hub.errors import Problem
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
    responses={401: {"description": "client authentication failed"}, 400: {"description": "bad grant"}},
)
async def issue_token(
    request: Request, state: StateDep, db: SessionDep, grant_type: str = Form(...)
) -> JSONResponse:
    client_id, secret = _basic_credentials(request)
    if grant_type != "client_credentials":
        raise Problem(400, "unsupported-grant-type", extra={"error": "unsupported_grant_type"})
    client = await authenticate_client(db, client_id, secret)
    if client is None:
        raise Problem(401, "invalid-client", headers=_BASIC_CHALLENGE, extra={"error": "invalid_client"})
    token = state.tokens.issue(client.client_id, client.kind, client.org, list(client.statutes))
    body = TokenResponse(access_token=token, expires_in=state.tokens.ttl_seconds)
    return JSONResponse(body.model_dump(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


@router.post("/login", responses={401: {"description": "unknown user or wrong password"}})
async def login(body: LoginRequest, state: StateDep, db: SessionDep) -> JSONResponse:
    """Sign a local account in (embedded default) and return a short-lived bearer token for the API."""
    account = await authenticate_account(db, body.username, body.password)
    if account is None:
        raise Problem(401, "invalid-credentials")
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

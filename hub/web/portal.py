"""The resident portal: home, my consents (pause, resume, revoke, receipts) and my access history.

The pages call the same services as the API (``state.consent``, ``state.audit_reader``) in the request's
transaction, so a revocation made here is audited exactly like one made through ``/v1/me/consents``. The
history page carries each entry's leaf, leaf hash and inclusion proof plus the signed checkpoint and the
log's verifier key, so ``static/verify.js`` can check all of it in the browser with WebCrypto, trusting
nothing the page says.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from audit.history import HistoryFilter
from hub import i18n
from hub.auth.tokens import AccountPrincipal
from hub.consents.service import consent_json
from hub.deps import SessionDep, StateDep
from hub.errors import Problem
from hub.notify import inbox as notify_inbox
from hub.state import HubState
from hub.web import days, session
from hub.web.render import language, render
from hub.web.strings import STRINGS, Strings

router = APIRouter(include_in_schema=False)
UUID = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]
OUTCOMES = ("ok", "denied", "not_found", "agency_error", "invalid")
PAGE_SIZE = 20


def _local(moment: str | datetime | None, lang: str) -> str:
    """A UTC timestamp in Korean time, written the reader's way."""
    return i18n.format_moment(moment, lang)


def _doc_title(state: HubState, document_type: str | None, lang: str) -> str:
    if not document_type:
        return ""
    spec = state.catalog.get(document_type)
    return spec.titles.get(lang, document_type) if spec is not None else document_type


def _view_title(state: HubState, document_type: str | None, view: str | None, lang: str) -> str:
    spec = state.catalog.get(document_type or "")
    found = spec.view(view) if spec is not None and view else None
    return found.titles.get(lang, view or "") if found is not None else (view or "")


def _field_titles(state: HubState, document_type: str | None, names: list[str], lang: str) -> list[str]:
    spec = state.catalog.get(document_type or "")
    titles = []
    for name in names:
        top, _, sub = name.partition(".")
        field = spec.field(top) if spec is not None else None
        if field is None:
            titles.append(name)
            continue
        item = next((i for i in field.items if i.name == sub), None) if sub else None
        titles.append((item or field).titles.get(lang, name))
    return titles


# -- home ---------------------------------------------------------------------------------------------------


@router.get("/me", response_class=HTMLResponse)
async def home(request: Request, state: StateDep, db: SessionDep) -> Response:
    """My start page, with my unread notices (newest first) and each one's verification code."""
    account = session.resident(request, state)
    if account is None:
        return session.login_redirect(request)
    lang = language(request)
    unread = await notify_inbox.page(db, account.subject_commitment or "", limit=10, unread_only=True)
    notices = [
        notify_inbox.as_json(row, lang, state.keys.data_key, lambda d: _doc_title(state, d, lang))
        for row in unread.items
    ]
    return render(
        request,
        "me.html",
        domains=("portal", "notify", "applications"),
        account=account,
        notices=notices,
        unread=unread.unread,
    )


# -- consents -----------------------------------------------------------------------------------------------


_DONE = ("pause", "resume", "revoke", "mandate_revoke")


async def _mandates(
    state: HubState, db: AsyncSession, account: AccountPrincipal, lang: str
) -> list[dict[str, Any]]:
    """Mandates I granted (revocable here) and mandates I hold as an agent, with the other person's name."""
    mandates = await state.consent.mandates(db, account.account_id)
    others = {m["agent_account_id"] for m in mandates} | {m["principal_account_id"] for m in mandates}
    names = await state.consent.account_names(db, others)
    shown = []
    for m in mandates:
        granted = m["principal_account_id"] == account.account_id
        other = m["agent_account_id"] if granted else m["principal_account_id"]
        shown.append(
            {
                **m,
                "granted": granted,
                "other": names.get(other, other[:8]),
                "document_titles": [_doc_title(state, d, lang) for d in m["document_types"]],
                "expires_local": _local(m["expires_at"], lang),
            }
        )
    return shown


@router.get("/me/consents", response_class=HTMLResponse)
async def consents_page(
    request: Request, state: StateDep, db: SessionDep, done: str | None = None
) -> Response:
    account = session.resident(request, state)
    if account is None:
        return session.login_redirect(request)
    assert account.subject_commitment is not None
    lang = language(request)
    views = await state.consent.consents_of_subject(db, account.subject_commitment)
    receipts = await state.consent.receipts_of(db, views)
    consents = []
    for view in views:
        body = consent_json(view)
        body["document_titles"] = [
            f"{_doc_title(state, d['document_type'], lang)}"
            f" ({_view_title(state, d['document_type'], d['view'], lang)})"
            for d in view.documents
        ]
        body["expires_local"] = _local(body["expires_at"], lang)
        body["last_used_local"] = _local(body["last_used_at"], lang)
        body["receipts"] = receipts.get(view.consent_id, [])
        consents.append(body)
    mandates = await _mandates(state, db, account, lang)
    notice = STRINGS[lang].get(f"done.{done}") if done in _DONE else None
    return render(
        request,
        "me_consents.html",
        account=account,
        consents=consents,
        mandates=mandates,
        csrf=session.csrf_token(state, request),
        notice=notice,
    )


@router.post("/me/consents/{consent_id}/{action}", response_class=HTMLResponse)
async def change_consent(
    consent_id: UUID,
    action: Literal["pause", "resume", "revoke"],
    request: Request,
    state: StateDep,
    db: SessionDep,
    csrf: Annotated[str, Form(max_length=100)],
) -> Response:
    account = session.resident(request, state)
    if account is None:
        return session.login_redirect(request)
    session.check_csrf(state, request, csrf)
    assert account.subject_commitment is not None
    strings = STRINGS[language(request)]
    try:
        await state.consent.change(db, account, consent_id, action, request.state.request_id)
    except Problem as problem:
        if problem.status >= 500:
            raise  # not changed: the 503 says so
        text = strings["consent_missing"] if problem.status == 404 else strings["consent_cannot"]
        return render(
            request,
            "message.html",
            status_code=problem.status,
            heading=strings["my_consents"],
            message=text,
            account=account,
            receipt=None,
            back="/me/consents",
        )
    return RedirectResponse(f"/me/consents?done={action}", status_code=303)


@router.post("/me/mandates/{mandate_id}/revoke", response_class=HTMLResponse)
async def revoke_mandate(
    mandate_id: UUID,
    request: Request,
    state: StateDep,
    db: SessionDep,
    csrf: Annotated[str, Form(max_length=100)],
) -> Response:
    account = session.resident(request, state)
    if account is None:
        return session.login_redirect(request)
    session.check_csrf(state, request, csrf)
    assert account.subject_commitment is not None
    try:
        await state.consent.revoke_mandate(db, account, mandate_id, request.state.request_id)
    except Problem as problem:
        if problem.status >= 500:
            raise
        strings = STRINGS[language(request)]
        return render(
            request,
            "message.html",
            status_code=404,
            heading=strings["my_consents"],
            message=strings["mandate_missing"],
            account=account,
            receipt=None,
            back="/me/consents",
        )
    return RedirectResponse("/me/consents?done=mandate_revoke", status_code=303)


@router.get("/me/consents/{consent_id}/receipts/{receipt_id}")
async def download_receipt(
    consent_id: UUID,
    receipt_id: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")],
    request: Request,
    state: StateDep,
    db: SessionDep,
) -> Response:
    """One signed receipt (compact JWS) as a file, verifiable offline with the hub's published keys."""
    account = session.resident(request, state)
    if account is None:
        return session.login_redirect(request)
    receipts = await state.consent.receipts(db, account, consent_id)
    found = next((r for r in receipts if r["receipt_id"] == receipt_id), None)
    if found is None:
        raise Problem(404, "consent-not-found")
    name = f"gongyu-consent-{consent_id[:8]}-{found['kind']}.jws"
    return Response(
        found["jws"],
        media_type="application/jose",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


# -- access history -----------------------------------------------------------------------------------------


def _actor(entry: dict[str, Any], strings: Mapping[str, str]) -> str:
    actor = entry.get("actor") or {}
    if actor.get("org"):
        return str(actor["org"])
    if actor.get("kind") == "resident":
        return strings["actor_self"]
    return strings.get(f"actor.{actor.get('kind')}", str(actor.get("kind") or ""))


def _basis(basis: str | None, strings: Mapping[str, str]) -> str:
    if not basis:
        return strings["basis.none"]
    if basis == "self":
        return strings["basis.self"]
    kind, _, ref = basis.partition(":")
    label = strings.get(f"basis.{kind}")
    if label is None:
        return basis
    return f"{label} {ref[:8] if kind in ('consent', 'mandate') else ref}"


@router.get("/me/history", response_class=HTMLResponse)
async def history_page(
    request: Request,
    state: StateDep,
    document_type: Annotated[str, Query(max_length=64)] = "",
    outcome: Annotated[str, Query(max_length=16)] = "",
    since: Annotated[str, Query(alias="from", max_length=10)] = "",
    until: Annotated[str, Query(alias="to", max_length=10)] = "",
    cursor: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    account = session.resident(request, state)
    if account is None:
        return session.login_redirect(request)
    assert account.subject_commitment is not None
    lang = language(request)
    strings = STRINGS[lang]
    kinds = Strings(lang, ("pages", "disputes"))  # the dispute steps' names live with the disputes
    document_type = document_type if document_type in state.catalog else ""
    outcome = outcome if outcome in OUTCOMES else ""
    since_day, until_day = days.calendar_day(since), days.calendar_day(until)
    filters = HistoryFilter(
        since=days.start_of(since_day) if since_day else None,
        until=days.end_of(until_day) if until_day else None,
        document_type=document_type or None,
        outcome=outcome or None,
    )
    try:
        page = await state.audit_reader.history(
            account.subject_commitment, datetime.now(UTC), filters, cursor or None, PAGE_SIZE
        )
    except ValueError:
        page = await state.audit_reader.history(
            account.subject_commitment, datetime.now(UTC), filters, None, PAGE_SIZE
        )
        cursor = ""
    entries = []
    for entry in page.entries:
        # The page carries the leaves of its proven entries (read with them): no query per entry.
        found = page.leaves.get(entry["leaf_index"]) if entry["inclusion_proof"] is not None else None
        entries.append(
            {
                **entry,
                "leaf": base64.b64encode(found).decode() if found is not None else None,
                "when": _local(entry["occurred_at"], lang),
                "who": _actor(entry, strings),
                "document": _doc_title(state, entry["document_type"], lang),
                "view_title": _view_title(state, entry["document_type"], entry["view"], lang),
                "field_titles": _field_titles(state, entry["document_type"], entry["fields"], lang),
                "basis_text": _basis(entry["basis"], strings),
                "kind_text": kinds.get(f"kind.{entry['kind']}", entry["kind"]),
                "outcome_text": strings.get(f"outcome.{entry['outcome']}", entry["outcome"]),
            }
        )
    kept = {
        "document_type": document_type,
        "outcome": outcome,
        "from": since_day.isoformat() if since_day else "",
        "to": until_day.isoformat() if until_day else "",
    }
    kept = {k: v for k, v in kept.items() if v}
    next_url = f"/me/history?{urlencode({**kept, 'cursor': page.next_cursor})}" if page.next_cursor else None
    first_url = f"/me/history?{urlencode(kept)}" if cursor else None
    documents = days.document_options(state, lang)
    return render(
        request,
        "me_history.html",
        domains=("disputes",),  # each entry's "dispute" link (hub/web/disputes.py)
        account=account,
        entries=entries,
        # The checkpoint with the witnesses' cosignatures; verify.js requires witness_quorum of them.
        checkpoint=(
            await state.witnessing.cosigned_note(page.tree_size, page.checkpoint) if page.checkpoint else None
        ),
        tree_size=page.tree_size,
        verifier_key=state.audit_reader.signer.verifier_key,
        witnesses=state.witnessing.vkeys,
        witness_quorum=state.witnessing.quorum,
        documents=documents,
        outcomes=OUTCOMES,
        filters=kept,
        next_url=next_url,
        first_url=first_url,
    )

"""The auditor console: log status, the events with filters and paging, exports, anomalies.

Pages for signed-in accounts with the role ``auditor`` (cookie session). They read the log through the audit
package's public interface (``state.audit_reader``, ``audit.anomalies``) and export through the same export
service the API uses (``hub.audit_export``, over ``audit.exports.ExportService``), so an export made here is
pinned, audited in the request's transaction and signed exactly like one made with a bearer token. The
console's own part is reading its form (Korean calendar days, the kinds and outcomes it offers) into the one
``audit.filters.EventFilter``.

Browsing is on the record too: each events page and each anomaly report writes one ``audit_query`` event with
its filter in the request's transaction (``hub.audit_export.record_query``) before anything is read; if it
cannot be written the page shows the 503 problem and no data.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlencode

from babel import Locale
from babel.dates import format_date
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from audit import anomalies
from audit.events import iso
from audit.export import Exporter, Format
from audit.filters import EventFilter
from hub import i18n
from hub.audit_export import record_query, signed_manifest, stream_export
from hub.auth.tokens import AccountPrincipal
from hub.deps import SessionDep, StateDep
from hub.errors import Problem
from hub.state import HubState
from hub.web import days, session
from hub.web.render import SHARED_DOMAINS, language, render
from hub.web.strings import Strings

router = APIRouter(include_in_schema=False)
DOMAINS: Final = ("auditor", "disputes")  # "disputes": the console's link to /audit/disputes
PAGE_SIZE: Final = 50
OUTCOMES: Final = ("ok", "denied", "not_found", "agency_error", "invalid")
FORMATS: Final[tuple[Format, ...]] = ("csv", "jsonl")
MAX_ANOMALY_RANGE: Final = timedelta(days=31)
KIND: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")  # the console names the known kinds; filters take any

Since = Annotated[str, Query(alias="from", max_length=10)]  # a date input: YYYY-MM-DD, a Korean day
Until = Annotated[str, Query(alias="to", max_length=10)]
Text = Annotated[str, Query(max_length=128)]
DocumentType = Annotated[str, Query(max_length=64)]
Kind = Annotated[str, Query(max_length=32)]
ExportFormat = Annotated[Literal["csv", "jsonl"], Query(alias="format")]


def _strings(request: Request) -> Strings:
    return Strings(language(request), (*SHARED_DOMAINS, *DOMAINS))


def _message(
    request: Request, status_code: int, heading: str, message: str, account: AccountPrincipal | None
) -> HTMLResponse:
    return render(
        request,
        "message.html",
        status_code=status_code,
        domains=DOMAINS,
        heading=heading,
        message=message,
        account=account,
        receipt=None,
        back="/audit" if account is not None and account.role == "auditor" else None,
    )


def _auditor(request: Request, state: HubState) -> AccountPrincipal | Response:
    """The signed-in auditor; otherwise the sign-in page (nobody signed in) or a 403 page (another role)."""
    account = session.current(request, state)
    if account is None:
        return session.login_redirect(request)
    if account.role != "auditor":
        strings = _strings(request)
        return _message(request, 403, strings["audit.forbidden_title"], strings["audit.forbidden"], account)
    return account


def _problem_page(request: Request, problem: Problem, account: AccountPrincipal) -> HTMLResponse:
    lang = language(request)
    try:
        title = i18n.message(lang, f"{problem.slug}.title")
        detail = i18n.message(lang, f"{problem.slug}.detail", **problem.params)
    except (KeyError, IndexError):
        strings = _strings(request)
        title, detail = strings["audit.error_title"], strings["audit.error"]
    response = _message(request, problem.status, title, detail, account)
    response.headers.update(problem.headers or {})
    return response


# -- filters ------------------------------------------------------------------------------------------------


def _kinds(strings: Mapping[str, str]) -> list[str]:
    """The event kinds the console names (``audit.kind.<kind>``): every kind the hub records."""
    return [key.removeprefix("audit.kind.") for key in strings if key.startswith("audit.kind.")]


@dataclass(frozen=True)
class Filters:
    """The console's filters as the pages send them (Korean calendar days), checked and normalised."""

    since_day: date | None = None
    until_day: date | None = None
    org: str = ""
    document_type: str = ""
    kind: str = ""
    outcome: str = ""

    @classmethod
    def parse(
        cls,
        state: HubState,
        since: str,
        until: str,
        org: str,
        document_type: str,
        kind: str,
        outcome: str,
    ) -> Filters:
        return cls(
            days.calendar_day(since),
            days.calendar_day(until),
            org.strip(),
            document_type if document_type in state.catalog else "",
            kind if KIND.fullmatch(kind) else "",
            outcome if outcome in OUTCOMES else "",
        )

    @property
    def since(self) -> datetime | None:
        return days.start_of(self.since_day) if self.since_day else None

    @property
    def until(self) -> datetime | None:
        return days.end_of(self.until_day) if self.until_day else None

    def query(self, *, exported: bool = False) -> dict[str, str]:
        """The non-empty filters as query parameters; an export has no outcome filter."""
        kept = {
            "from": self.since_day.isoformat() if self.since_day else "",
            "to": self.until_day.isoformat() if self.until_day else "",
            "org": self.org,
            "document_type": self.document_type,
            "kind": self.kind,
            "outcome": "" if exported else self.outcome,
        }
        return {k: v for k, v in kept.items() if v}

    def events(self, *, exported: bool = False) -> EventFilter:
        """The filter the audit package reads with; an export has no outcome filter (as ``query`` says)."""
        return EventFilter(
            since=self.since,
            until=self.until,
            org=self.org or None,
            document_type=self.document_type or None,
            kind=self.kind or None,
            outcome=None if exported else self.outcome or None,
        )


def _filters(
    state: HubState,
    since: str,
    until: str,
    org: str,
    document_type: str,
    kind: str,
    outcome: str = "",
) -> Filters:
    return Filters.parse(state, since, until, org, document_type, kind, outcome)


def _label(strings: Mapping[str, str], prefix: str, value: str | None) -> str:
    if not value:
        return ""
    return strings.get(f"audit.{prefix}.{value}") or value


# -- home ---------------------------------------------------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse)
async def home(request: Request, state: StateDep) -> Response:
    account = _auditor(request, state)
    if isinstance(account, Response):
        return account
    status = await state.audit_reader.log_status(datetime.now(UTC))
    return render(
        request,
        "audit_home.html",
        domains=DOMAINS,
        account=account,
        status=status,
        root_hash=base64.b64encode(status.root_hash).decode() if status.root_hash else None,
        lag_seconds=round(status.lag_seconds, 1) if status.lag_seconds is not None else None,
        verifier_key=state.audit_reader.signer.verifier_key,
    )


# -- events -------------------------------------------------------------------------------------------------


@router.get("/audit/events", response_class=HTMLResponse)
async def events_page(
    request: Request,
    state: StateDep,
    db: SessionDep,
    since: Since = "",
    until: Until = "",
    org: Text = "",
    document_type: DocumentType = "",
    kind: Kind = "",
    outcome: Annotated[str, Query(max_length=16)] = "",
    cursor: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    account = _auditor(request, state)
    if isinstance(account, Response):
        return account
    lang = language(request)
    strings = _strings(request)
    filters = _filters(state, since, until, org, document_type, kind, outcome)
    described = {**filters.events().describe(), "cursor": cursor or None}
    try:
        await record_query(state, db, "events", described, account, request.state.request_id)
    except Problem as problem:  # not on the record: show nothing
        return _problem_page(request, problem, account)
    try:
        page = await state.audit_reader.events(filters.events(), cursor or None, PAGE_SIZE)
    except ValueError:  # a malformed cursor: start again from the newest
        page = await state.audit_reader.events(filters.events(), None, PAGE_SIZE)
        cursor = ""
    documents = dict(days.document_options(state, lang))
    rows = [
        {
            "entry": entry,
            "kind_text": _label(strings, "kind", entry.kind),
            "outcome_text": _label(strings, "outcome", entry.outcome),
            "actor_text": _label(strings, "actor", entry.actor_kind),
            "document": documents.get(entry.document_type or "", entry.document_type or ""),
        }
        for entry in page.entries
    ]
    kept = filters.query()
    next_url = (
        f"/audit/events?{urlencode({**kept, 'cursor': page.next_cursor})}" if page.next_cursor else None
    )
    first_url = f"/audit/events?{urlencode(kept)}" if cursor else None
    checkpoint = await state.audit_reader.latest_checkpoint()
    return render(
        request,
        "audit_events.html",
        domains=DOMAINS,
        account=account,
        rows=rows,
        filters=filters,
        kept=kept,
        export_params=filters.query(exported=True),
        documents=list(documents.items()),
        kinds=[(k, _label(strings, "kind", k)) for k in _kinds(strings)],
        outcomes=[(o, _label(strings, "outcome", o)) for o in OUTCOMES],
        formats=FORMATS,
        tree_size=checkpoint.tree_size if checkpoint else None,
        next_url=next_url,
        first_url=first_url,
    )


# -- export -------------------------------------------------------------------------------------------------


@router.get("/audit/export", response_class=HTMLResponse)
async def export_page(
    request: Request,
    state: StateDep,
    fmt: ExportFormat = "csv",
    since: Since = "",
    until: Until = "",
    org: Text = "",
    document_type: DocumentType = "",
    kind: Kind = "",
) -> Response:
    """The export pinned to the latest checkpoint: its filter and the links to the body and its manifest."""
    account = _auditor(request, state)
    if isinstance(account, Response):
        return account
    lang = language(request)
    strings = _strings(request)
    checkpoint = await state.audit_reader.latest_checkpoint()
    if checkpoint is None:
        return _problem_page(request, Problem(503, "no-checkpoint", headers={"Retry-After": "1"}), account)
    filters = _filters(state, since, until, org, document_type, kind)
    pinned = {**filters.query(exported=True), "tree_size": str(checkpoint.tree_size)}
    locale = Locale.parse(lang)
    documents = dict(days.document_options(state, lang))
    return render(
        request,
        "audit_export.html",
        domains=DOMAINS,
        account=account,
        fmt=fmt,
        filters=filters,
        document=documents.get(filters.document_type, ""),
        kind_text=_label(strings, "kind", filters.kind),
        since_text=format_date(filters.since_day, "long", locale) if filters.since_day else "",
        until_text=format_date(filters.until_day, "long", locale) if filters.until_day else "",
        tree_size=checkpoint.tree_size,
        body_url=f"/audit/export.{fmt}?{urlencode(pinned)}",
        manifest_url=f"/audit/export/manifest?{urlencode({'format': fmt, **pinned})}",
        back_url=f"/audit/events?{urlencode(filters.query(exported=True))}",
    )


@router.get("/audit/export.{fmt}")
async def export_body(
    fmt: Literal["csv", "jsonl"],
    request: Request,
    state: StateDep,
    session: SessionDep,
    since: Since = "",
    until: Until = "",
    org: Text = "",
    document_type: DocumentType = "",
    kind: Kind = "",
    tree_size: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """The export's body, through the one export service: audited before the first byte, pinned, streamed."""
    account = _auditor(request, state)
    if isinstance(account, Response):
        return account
    filters = _filters(state, since, until, org, document_type, kind)
    exporter = Exporter(account.account_id, account.org, request.state.request_id)
    try:
        return await stream_export(state, session, filters.events(exported=True), fmt, tree_size, exporter)
    except Problem as problem:
        return _problem_page(request, problem, account)


@router.get("/audit/export/manifest")
async def export_manifest_file(
    request: Request,
    state: StateDep,
    fmt: ExportFormat = "csv",
    since: Since = "",
    until: Until = "",
    org: Text = "",
    document_type: DocumentType = "",
    kind: Kind = "",
    tree_size: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """The signed manifest of the export with the same parameters, as a file."""
    account = _auditor(request, state)
    if isinstance(account, Response):
        return account
    filters = _filters(state, since, until, org, document_type, kind)
    try:
        signed = await signed_manifest(state, filters.events(exported=True), fmt, tree_size)
    except Problem as problem:
        return _problem_page(request, problem, account)
    size = signed["manifest"]["tree_size"]
    return Response(
        json.dumps(signed, ensure_ascii=False, indent=2) + "\n",
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="gongyu-audit-{size}.{fmt}.manifest.json"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


# -- anomalies ----------------------------------------------------------------------------------------------


def _overrides(request: Request) -> dict[str, dict[str, float]] | None:
    """``<rule>.<param>=<number>`` from the query (blank means the default); None if a value is no number."""
    overrides: dict[str, dict[str, float]] = {}
    for key, value in request.query_params.items():
        rule, _, param = key.partition(".")
        if rule not in anomalies.RULES or param not in anomalies.RULES[rule].params or not value.strip():
            continue
        try:
            number = float(value)
        except ValueError:
            return None
        if number != number or number in (float("inf"), float("-inf")):
            return None
        overrides.setdefault(rule, {})[param] = number
    return overrides


def _detail(strings: Mapping[str, str], anomaly: anomalies.Anomaly, lang: str) -> str:
    template = strings.get(f"audit.anomaly.{anomaly.rule}")
    if template is None or not anomaly.figures:
        return anomaly.detail
    try:
        return template.format(**{k: i18n.format_number(v, lang) for k, v in anomaly.figures.items()})
    except (KeyError, IndexError):
        return anomaly.detail


@router.get("/audit/anomalies", response_class=HTMLResponse)
async def anomalies_page(
    request: Request,
    state: StateDep,
    db: SessionDep,
    since: Since = "",
    until: Until = "",
) -> Response:
    account = _auditor(request, state)
    if isinstance(account, Response):
        return account
    lang = language(request)
    strings = _strings(request)
    since_day, until_day = days.calendar_day(since), days.calendar_day(until)
    end = days.end_of(until_day) if until_day else datetime.now(UTC)
    start = days.start_of(since_day) if since_day else end - timedelta(days=1)
    overrides = _overrides(request)
    error = None
    if overrides is None:
        error = strings["audit.anomalies_bad_number"]
    elif not start < end or end - start > MAX_ANOMALY_RANGE:
        error = strings["audit.anomalies_bad_range"]
    report = None
    if error is None and overrides is not None:
        described = {"since": iso(start), "until": iso(end), "overrides": overrides}
        try:
            await record_query(state, db, "anomalies", described, account, request.state.request_id)
        except Problem as problem:  # not on the record: show nothing
            return _problem_page(request, problem, account)
        report = await anomalies.find(state.sessions, start, end, overrides)
    params = report.params if report else {name: dict(rule.params) for name, rule in anomalies.RULES.items()}
    rules = []
    for name, rule in anomalies.RULES.items():
        shown = [
            {
                "name": param,
                "label": strings[f"audit.param.{param}"],
                "value": f"{value:g}",
                "default": rule.params[param],
                "changed": value != rule.params[param],
            }
            for param, value in params[name].items()
        ]
        rules.append(
            {
                "name": name,
                "title": strings[f"audit.rule.{name}"],
                "help": strings[f"audit.rule.{name}.help"],
                "params": shown,
                "changed": any(p["changed"] for p in shown),
            }
        )
    found: list[dict[str, Any]] = []
    for anomaly in report.anomalies if report else []:
        found.append(
            {
                "anomaly": anomaly,
                "rule_title": strings[f"audit.rule.{anomaly.rule}"],
                "detail": _detail(strings, anomaly, lang),
            }
        )
    return render(
        request,
        "audit_anomalies.html",
        status_code=400 if error else 200,
        domains=DOMAINS,
        account=account,
        report=report,
        found=found,
        rules=rules,
        error=error,
        since=start,
        until=end,
        form={
            "from": since_day.isoformat() if since_day else "",
            "to": until_day.isoformat() if until_day else "",
        },
    )

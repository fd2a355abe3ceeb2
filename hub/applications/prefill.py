"""Pre-filling a form from the resident's own shared records, under one consent, through the audited lookup.

The resident first sees the plan (which record fills which field, and why: the form's statute), then consents
once for the documents they choose. The consent is an audit event of its own; each document is then read
through :meth:`hub.broker.Broker.preview` (basis ``self``), so every pre-fill lookup is an audit event and a
notice like any other look at the resident's records. Only the fields the form maps are kept; a document the
resident did not consent to is never read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from audit import AuditEvent
from document_specs.forms import FormSpec
from document_specs.loader import SpecCatalog
from hub.actors import account_actor, audit_kind
from hub.auth.accounts import NumberSealer
from hub.auth.models import AccountRow
from hub.auth.tokens import AccountPrincipal
from hub.broker import Broker
from hub.errors import Problem
from hub.uow import Trail

CONSENT_KIND = "application_prefill_consent"
LOOKUP_KIND = "application_prefill"


@dataclass(frozen=True)
class Prefilled:
    values: dict[str, Any] = field(default_factory=dict)
    # form field -> "document_type/view/source"
    sources: dict[str, str] = field(default_factory=dict)
    read: tuple[str, ...] = ()  # document types read
    failed: tuple[str, ...] = ()  # document types that could not be read (agency down, no record)

    def with_values(self) -> dict[str, dict[str, Any]]:
        """Each source with the value the record gave (what a draft keeps, to notice a typed-over value)."""
        return {name: {"source": source, "value": self.values[name]} for name, source in self.sources.items()}


def plan(form: FormSpec, catalog: SpecCatalog) -> list[dict[str, Any]]:
    """What the consent screen shows: per document, its titles and which of its fields fill which field."""
    out: list[dict[str, Any]] = []
    for document_type, view in form.prefill_documents():
        spec = catalog[document_type]
        view_spec = spec.view(view)
        assert view_spec is not None  # checked when the forms were loaded
        fields = []
        for p in form.prefill:
            if (p.document_type, p.view) != (document_type, view):
                continue
            target = form.field(p.field)
            source = spec.field(p.source)
            assert target is not None and source is not None
            fields.append(
                {
                    "field": p.field,
                    "labels": target.labels,
                    "source": p.source,
                    "source_titles": source.titles,
                }
            )
        out.append(
            {
                "document_type": document_type,
                "view": view,
                "titles": spec.titles,
                "holder_titles": spec.holder_titles,
                "view_titles": view_spec.titles,
                "fields": fields,
            }
        )
    return out


def _as_form_value(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "integer":
        return int(value)
    if kind == "boolean":
        return bool(value)
    return str(value)


class PrefillService:
    def __init__(self, catalog: SpecCatalog, broker: Broker, trail: Trail, sealer: NumberSealer) -> None:
        self.catalog = catalog
        self.broker = broker
        self.trail = trail
        self.sealer = sealer

    def consented_documents(self, form: FormSpec, consent: bool | Sequence[str]) -> list[tuple[str, str]]:
        """The (type, view) pairs a consent covers: all the form's documents, none, or those named."""
        documents = list(form.prefill_documents())
        if consent is True:
            return documents
        if consent is False:
            return []
        named = set(consent)
        unknown = sorted(named - {d for d, _ in documents})
        if unknown:
            raise Problem(
                422, "prefill-document-not-in-form", form_type=form.type, document_type=unknown[0][:64]
            )
        return [(d, v) for d, v in documents if d in named]

    async def prefill(
        self,
        session: AsyncSession,
        account: AccountPrincipal,
        form: FormSpec,
        consent: bool | Sequence[str],
        request_id: str,
    ) -> Prefilled:
        """Record the consent, then read each consented document through the audited lookup.

        Commits (the broker commits before answering, fail closed): call it before the rest of a request's
        work, never in the middle of it.
        """
        documents = self.consented_documents(form, consent)
        if not documents:
            return Prefilled()
        row = await session.get(AccountRow, account.account_id)
        if row is None or not row.resident_number_enc or not row.subject_commitment:
            raise Problem(403, "role-required", role="resident")
        actor = account_actor(account)
        await self.trail.record(
            session,
            AuditEvent(
                kind=CONSENT_KIND,
                actor_kind=audit_kind(actor),
                actor_id=account.account_id,
                subject_commitment=row.subject_commitment,
                purpose_code=f"application:{form.type}",
                basis="self",
                outcome="ok",
                reason=f"form:{form.type}",
                fields=tuple(f"{d}/{v}" for d, v in documents),  # which documents the consent covers
                request_id=request_id,
            ),
        )
        subject = self.sealer.open(row.resident_number_enc)
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        read: list[str] = []
        failed: list[str] = []
        for document_type, view in documents:
            try:
                answer = await self.broker.preview(
                    session,
                    actor,
                    subject,
                    document_type,
                    view,
                    request_id,
                    kind=LOOKUP_KIND,
                    purpose_code=f"application:{form.type}",
                )
            except Problem:
                failed.append(document_type)  # recorded by the broker; the resident types these fields
                continue
            read.append(document_type)
            for p in form.prefill:
                if (p.document_type, p.view) != (document_type, view):
                    continue
                target = form.field(p.field)
                assert target is not None
                value = _as_form_value(target.type, answer.fields.get(p.source))
                if value is not None:
                    values[p.field] = value
                    sources[p.field] = f"{document_type}/{view}/{p.source}"
        return Prefilled(values, sources, tuple(read), tuple(failed))


def source_of(entry: Any) -> str | None:
    """The "document_type/view/source" of a pre-fill entry, in either shape (see :func:`keep_sources`)."""
    if isinstance(entry, Mapping):
        source = entry.get("source")
        return str(source) if source is not None else None
    return str(entry) if entry is not None else None


def keep_sources(
    form: FormSpec, sources: Mapping[str, Any], answers: Mapping[str, Any], *, with_values: bool = False
) -> dict[str, Any]:
    """The pre-fill sources still true of the answers: a mapped field, still answered, not changed since.

    An entry is ``"document_type/view/source"`` or, in a draft, ``{"source": ..., "value": ...}`` with the
    value the record gave: an answer that differs from it was typed over, so it is no longer "from records".
    ``with_values`` keeps the second shape (drafts); otherwise the source alone is kept (cases).
    """
    mapped = {p.field: f"{p.document_type}/{p.view}/{p.source}" for p in form.prefill}
    out: dict[str, Any] = {}
    for name, entry in sources.items():
        source = source_of(entry)
        answer = answers.get(name)
        if source is None or mapped.get(name) != source or answer in (None, ""):
            continue
        if isinstance(entry, Mapping) and "value" in entry:
            if str(entry["value"]) != str(answer):
                continue  # typed over
            out[name] = {"source": source, "value": entry["value"]} if with_values else source
        else:
            out[name] = source
    return out

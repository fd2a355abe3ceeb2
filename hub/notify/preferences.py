"""A resident's say over e-mail notices: which kinds, a quiet-hours window, a daily digest.

The inbox is always on: it is the record a resident can always open, and it is never delayed. E-mail is
chosen per *group* of event kinds (accesses to my records, changes to my consents, mandates, my e-documents),
because a choice per audit kind would ask a resident about distinctions they do not make.

Where each choice is applied, and why there:

- *E-mail off for a group* is decided when the event is written (``outbox.announce``): no e-mail row exists,
  so the outbox holds exactly one row per enabled channel. The choice is read inside the INSERT that writes
  the notices (a primary-key outer join in its ``WHERE EXISTS``, :func:`hub.notify.outbox.resident_notices`),
  so the lookup's hot path gains no read at all.
- *Quiet hours* and the *digest* are decided at delivery (``mail.EmailChannel``): the row is written as
  usual and the dispatcher puts it back to ``created`` with ``next_attempt_at`` at the end of the window or at
  the digest hour. Its status tells the truth (``created`` until sent), and a choice changed meanwhile
  applies to what is still owed.

Times are in Korean time (KST, UTC+9, no daylight saving): the clock residents live by.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from audit import AuditEvent
from audit.events import utcnow
from hub.notify.models import PreferenceRow

if TYPE_CHECKING:  # hub.uow imports the outbox, which imports this module
    from hub.uow import Trail

CHANGED: Final = "notice_preferences"  # the audit kind of a change of these settings
KST: Final = timezone(timedelta(hours=9), "KST")
GROUPS: Final = ("accesses", "consents", "mandates", "documents")
# Sent by e-mail whatever the resident chose, at once (no quiet hours, no digest): a change of these very
# settings is what someone who took over an account would do first, and want hidden.
URGENT: Final = frozenset({CHANGED})
# Audit kind -> the group a resident switches e-mail on or off for. Every notified kind but the urgent ones
# belongs to one (a test holds new kinds to it); one that somehow does not is e-mailed, quiet hours and
# digest applying.
GROUP_OF: Final[Mapping[str, str]] = {
    "lookup": "accesses",
    "preview": "accesses",
    "application_prefill": "accesses",  # a form filled from my records is a read of them
    "dispute_filed": "accesses",  # my disputes of an access, and their answers
    "dispute_escalated": "accesses",
    "dispute_justified": "accesses",
    "dispute_error_acknowledged": "accesses",
    "consent_request": "consents",
    "consent_link_opened": "consents",
    "consent_request_received": "consents",
    "consent_approve": "consents",
    "consent_deny": "consents",
    "consent_pause": "consents",
    "consent_resume": "consents",
    "consent_revoke": "consents",
    "consent_expiring": "consents",
    "consent_expired": "consents",
    "consent_exhausted": "consents",
    "mandate_grant": "mandates",
    "mandate_revoke": "mandates",
    "issuance": "documents",
    "revocation": "documents",
    "verification": "documents",
    "credential_issuance": "documents",  # a wallet credential of my records (hub/credentials)
    "credential_revocation": "documents",
    # each step of my civil applications: documents I asked for, as e-documents are
    "case_received": "documents",
    "case_assigned": "documents",
    "case_in_review": "documents",
    "case_supplementation_requested": "documents",
    "case_supplemented": "documents",
    "case_extended": "documents",
    "case_approved": "documents",
    "case_rejected": "documents",
    "case_withdrawn": "documents",
}
_HHMM: Final = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Preferences:
    """What a resident chose (the defaults if they never saved: all e-mail on, no quiet hours, no digest)."""

    email: Mapping[str, bool] = field(default_factory=lambda: dict.fromkeys(GROUPS, True))
    quiet_start: int | None = None  # minutes after 00:00 KST
    quiet_end: int | None = None
    digest_hour: int | None = None  # 0-23 KST

    def email_for(self, kind: str) -> bool:
        group = GROUP_OF.get(kind)
        return True if group is None else bool(self.email.get(group, True))

    @classmethod
    def of_columns(
        cls,
        accesses: bool | None,
        consents: bool | None,
        mandates: bool | None,
        documents: bool | None,
        quiet_start: int | None,
        quiet_end: int | None,
        digest_hour: int | None,
    ) -> Preferences:
        """From the columns of a row, or from an outer join that found none (every value None)."""
        chosen = (accesses, consents, mandates, documents)
        return cls(
            email={g: True if c is None else bool(c) for g, c in zip(GROUPS, chosen, strict=True)},
            quiet_start=quiet_start,
            quiet_end=quiet_end,
            digest_hour=digest_hour,
        )

    @classmethod
    def of_row(cls, row: PreferenceRow | None) -> Preferences:
        if row is None:
            return cls()
        return cls.of_columns(
            row.email_accesses,
            row.email_consents,
            row.email_mandates,
            row.email_documents,
            row.quiet_start,
            row.quiet_end,
            row.digest_hour,
        )

    def as_json(self) -> dict[str, Any]:
        quiet = None
        if self.quiet_start is not None and self.quiet_end is not None:
            quiet = {"start": _hhmm(self.quiet_start), "end": _hhmm(self.quiet_end)}
        return {
            "email": {g: bool(self.email.get(g, True)) for g in GROUPS},
            "quiet_hours": quiet,
            "digest_hour": self.digest_hour,
            "timezone": "Asia/Seoul",
        }


def preference_columns() -> tuple[Any, ...]:
    """The columns :meth:`Preferences.of_columns` takes, in its order (for a query that joins the row)."""
    return (
        PreferenceRow.email_accesses,
        PreferenceRow.email_consents,
        PreferenceRow.email_mandates,
        PreferenceRow.email_documents,
        PreferenceRow.quiet_start,
        PreferenceRow.quiet_end,
        PreferenceRow.digest_hour,
    )


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(text: str) -> int:
    found = _HHMM.match(text)
    if found is None:
        raise ValueError("a time of day as HH:MM (00:00-23:59)")
    return int(found.group(1)) * 60 + int(found.group(2))


# -- the rules of time --------------------------------------------------------------------------------------


def quiet_until(prefs: Preferences, now: datetime) -> datetime | None:
    """When the quiet hours ``now`` falls in end (UTC), or None outside them (or without a window).

    A window may cross midnight (22:00-07:00): then it is quiet from the start until midnight and from
    midnight until the end.
    """
    start, end = prefs.quiet_start, prefs.quiet_end
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(KST)
    minute = local.hour * 60 + local.minute
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside:
        return None
    day = local.date() if minute < end else local.date() + timedelta(days=1)
    ends = datetime.combine(day, time(end // 60, end % 60), tzinfo=KST)
    return ends.astimezone(UTC)


def digest_after(moment: datetime, hour: int) -> datetime:
    """The first digest moment (``hour``:00 KST) strictly after ``moment``: when a notice of then is sent."""
    local = moment.astimezone(KST)
    candidate = datetime.combine(local.date(), time(hour), tzinfo=KST)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate.astimezone(UTC)


def digest_before(moment: datetime, hour: int) -> datetime:
    """The latest digest moment at or before ``moment``: a digest sent now covers notices written before."""
    return digest_after(moment, hour) - timedelta(days=1)


# -- what the API and the page accept -----------------------------------------------------------------------


class EmailChoices(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accesses: bool = True
    consents: bool = True
    mandates: bool = True
    documents: bool = True


class QuietHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: str = Field(max_length=5, examples=["22:00"])
    end: str = Field(max_length=5, examples=["07:00"])

    @field_validator("start", "end")
    @classmethod
    def _time_of_day(cls, value: str) -> str:
        _minutes(value)
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours must start and end at different times")
        return self


class PreferencesIn(BaseModel):
    """The whole of a resident's choice, replaced at once (``PUT``): what is left out takes its default."""

    model_config = ConfigDict(extra="forbid")

    email: EmailChoices = Field(default_factory=EmailChoices)
    quiet_hours: QuietHours | None = None
    digest_hour: int | None = Field(default=None, ge=0, le=23)

    def as_preferences(self) -> Preferences:
        quiet = self.quiet_hours
        return Preferences(
            email=self.email.model_dump(),
            quiet_start=_minutes(quiet.start) if quiet else None,
            quiet_end=_minutes(quiet.end) if quiet else None,
            digest_hour=self.digest_hour,
        )


# -- storage ------------------------------------------------------------------------------------------------


async def load(session: AsyncSession, account_id: str) -> Preferences:
    return Preferences.of_row(await session.get(PreferenceRow, account_id))


async def store(session: AsyncSession, account_id: str, prefs: Preferences) -> Preferences:
    """Replace the account's choice in the caller's session (flushed; the caller's unit of work commits)."""
    row = await session.get(PreferenceRow, account_id)
    if row is None:
        row = PreferenceRow(account_id=account_id)
        session.add(row)
    row.email_accesses = bool(prefs.email.get("accesses", True))
    row.email_consents = bool(prefs.email.get("consents", True))
    row.email_mandates = bool(prefs.email.get("mandates", True))
    row.email_documents = bool(prefs.email.get("documents", True))
    row.quiet_start = prefs.quiet_start
    row.quiet_end = prefs.quiet_end
    row.digest_hour = prefs.digest_hour
    row.updated_at = utcnow()
    await session.flush()
    return prefs


async def save(
    session: AsyncSession,
    trail: Trail,
    account_id: str,
    subject_commitment: str,
    prefs: Preferences,
    request_id: str,
) -> Preferences:
    """Change my settings, on the record and announced (in the caller's transaction, with its audit event).

    A change of what a resident is told is itself worth telling: turning e-mail off is the first thing
    someone who took over an account would do to hide what they do next. So the change is an audit event
    whose notice is always e-mailed (its kind is in no group).
    """
    await store(session, account_id, prefs)
    await trail.record(
        session,
        AuditEvent(
            kind=CHANGED,
            actor_kind="resident",
            actor_id=account_id,
            outcome="ok",
            subject_commitment=subject_commitment,
            request_id=request_id,
        ),
    )
    return prefs

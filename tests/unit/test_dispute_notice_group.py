"""Disputes of an access are notices about accesses: every dispute kind is in the "accesses" group, so a
resident who turns e-mail about accesses off gets no dispute mail either (the inbox keeps them), and one
who keeps it gets each step; none of them is urgent (quiet hours and the digest hold them)."""

from __future__ import annotations

from hub.applications.disputes import KINDS
from hub.notify import preferences
from hub.notify.outbox import NOTIFIED_KINDS


def test_every_dispute_kind_is_an_access_notice() -> None:
    assert KINDS == {"dispute_filed", "dispute_escalated", "dispute_justified", "dispute_error_acknowledged"}
    assert KINDS <= NOTIFIED_KINDS
    assert {kind: preferences.GROUP_OF.get(kind) for kind in KINDS} == dict.fromkeys(KINDS, "accesses")
    assert not KINDS & preferences.URGENT


def test_turning_access_mail_off_silences_dispute_mail_only() -> None:
    no_access_mail = preferences.Preferences(
        email={**dict.fromkeys(preferences.GROUPS, True), "accesses": False}
    )
    assert not any(no_access_mail.email_for(kind) for kind in KINDS)
    assert no_access_mail.email_for("consent_request")  # another group is untouched
    everything = preferences.Preferences(email=dict.fromkeys(preferences.GROUPS, True))
    assert all(everything.email_for(kind) for kind in KINDS)

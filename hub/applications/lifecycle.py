"""The case lifecycle: which state may follow which, and who may make each move.

``received → assigned → in_review → (supplementation_requested ⇄ supplemented) → (extended) → completed
(approved | rejected) | withdrawn``. Officials of the handling department move a case along; the applicant
supplies what was asked for and may withdraw until the case is completed. The table below is the whole rule,
so the API, the pages and the tests read the same one.
"""

from __future__ import annotations

from typing import Final, Literal

Role = Literal["official", "resident"]

RECEIVED: Final = "received"
ASSIGNED: Final = "assigned"
IN_REVIEW: Final = "in_review"
SUPPLEMENTATION_REQUESTED: Final = "supplementation_requested"
SUPPLEMENTED: Final = "supplemented"
EXTENDED: Final = "extended"
COMPLETED: Final = "completed"
WITHDRAWN: Final = "withdrawn"

STATES: Final = (
    RECEIVED,
    ASSIGNED,
    IN_REVIEW,
    SUPPLEMENTATION_REQUESTED,
    SUPPLEMENTED,
    EXTENDED,
    COMPLETED,
    WITHDRAWN,
)
FINAL_STATES: Final = frozenset({COMPLETED, WITHDRAWN})
OUTCOMES: Final = ("approved", "rejected")

# (from, to) -> the role that may make the move.
TRANSITIONS: Final[dict[tuple[str, str], Role]] = {
    (RECEIVED, ASSIGNED): "official",
    (ASSIGNED, ASSIGNED): "official",  # handed to another official of the department
    (ASSIGNED, IN_REVIEW): "official",
    (IN_REVIEW, SUPPLEMENTATION_REQUESTED): "official",
    (IN_REVIEW, EXTENDED): "official",
    (IN_REVIEW, COMPLETED): "official",
    (SUPPLEMENTATION_REQUESTED, SUPPLEMENTED): "resident",
    (SUPPLEMENTED, IN_REVIEW): "official",
    (SUPPLEMENTED, SUPPLEMENTATION_REQUESTED): "official",
    (SUPPLEMENTED, EXTENDED): "official",
    (SUPPLEMENTED, COMPLETED): "official",
    (EXTENDED, SUPPLEMENTATION_REQUESTED): "official",
    (EXTENDED, COMPLETED): "official",
    **{
        (state, WITHDRAWN): "resident"
        for state in (RECEIVED, ASSIGNED, IN_REVIEW, SUPPLEMENTATION_REQUESTED, SUPPLEMENTED, EXTENDED)
    },
}

# Moves that must say why (the resident reads it in the notice and on the case).
NOTE_REQUIRED: Final = frozenset({SUPPLEMENTATION_REQUESTED, EXTENDED})


def allowed_role(current: str, target: str) -> Role | None:
    """The role that may move a case from ``current`` to ``target``; None if that is not an arrow."""
    return TRANSITIONS.get((current, target))


def next_states(current: str, role: Role) -> tuple[str, ...]:
    """Where ``role`` may take a case from ``current`` (for the pages' buttons), in lifecycle order."""
    return tuple(s for s in STATES if TRANSITIONS.get((current, s)) == role)


def audit_kind(target: str, outcome: str | None = None) -> str:
    """The audit (and notice) kind of a move: one per target state, completion split by its outcome.

    ``case_`` rather than ``application_``: audit kinds are at most 32 characters.
    """
    if target == COMPLETED:
        return f"case_{outcome}"
    return f"case_{target}"


AUDIT_KINDS: Final = frozenset(
    {"case_received"}
    | {audit_kind(s) for s in STATES if s not in (RECEIVED, COMPLETED)}
    | {audit_kind(COMPLETED, o) for o in OUTCOMES}
)

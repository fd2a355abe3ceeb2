"""Does a checkpoint carry a quorum of valid witness cosignatures? Which witness is missing or bad?

Pure and I/O-free, used by ``gongyu audit verify`` (from the database, a hub's URL or its tiles) and by any
API consumer; the resident portal's in-browser check (``hub/web/static/verify.js``) does the same with
WebCrypto.
A checkpoint signed by the log alone proves only what the operator claims; one cosigned by witnesses that each
checked it extends what they saw before cannot be one of two different histories shown to two people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from audit.checkpoint import CheckpointError, parse_note
from audit.witness.protocol import Cosigner, ProtocolError, parse_cosigner_vkey, verify_cosignature


@dataclass
class WitnessCheck:
    quorum: int
    valid: list[str] = field(default_factory=list)  # witness names
    missing: list[str] = field(default_factory=list)
    bad: list[tuple[str, str]] = field(default_factory=list)  # (witness name, what is wrong)
    timestamps: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return len(self.valid) >= self.quorum

    def problems(self) -> list[str]:
        """One line per missing or bad cosignature, and the quorum shortfall, for a report."""
        lines = [f"witness {name}: no cosignature" for name in self.missing]
        lines += [f"witness {name}: {why}" for name, why in self.bad]
        if not self.ok:
            lines.append(f"witness quorum not met: {len(self.valid)} valid of {self.quorum} required")
        return lines


def parse_witnesses(vkeys: Sequence[str]) -> list[Cosigner]:
    try:
        return [parse_cosigner_vkey(vkey) for vkey in vkeys]
    except ProtocolError as exc:
        raise CheckpointError(str(exc)) from exc


def check_cosignatures(note: str, witnesses: Sequence[str], quorum: int | None = None) -> WitnessCheck:
    """Check every configured witness's cosignature on ``note``; ``quorum`` None means all of them.

    The log's own signature is not checked here (``audit.checkpoint.verify_checkpoint`` does that); lines by
    keys not configured are ignored, as tlog-cosignature says clients must.
    """
    cosigners = parse_witnesses(witnesses)
    need = len(cosigners) if quorum is None else quorum
    result = WitnessCheck(need)
    body, sigs = parse_note(note)
    for cosigner in cosigners:
        mine = [s for s in sigs if s.name == cosigner.name and s.key_id == cosigner.key_id]
        if not mine:
            result.missing.append(cosigner.name)
            continue
        if len(mine) > 1:
            result.bad.append((cosigner.name, "several cosignature lines"))
            continue
        try:
            result.timestamps[cosigner.name] = verify_cosignature(body, mine[0], cosigner)
        except CheckpointError as exc:
            result.bad.append((cosigner.name, str(exc)))
            continue
        result.valid.append(cosigner.name)
    return result

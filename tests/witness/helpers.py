"""A log in memory that signs checkpoints like the hub, and a witness on a temporary state file."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.checkpoint import Checkpoint, sign_checkpoint, verifier_key
from audit.merkle import MemoryTree
from audit.witness.server import Witness
from audit.witness.state import WitnessState

ORIGIN = "test.gongyu.local/log"


class MemoryLog:
    def __init__(self, key: Ed25519PrivateKey | None = None, origin: str = ORIGIN) -> None:
        self.key = key or Ed25519PrivateKey.generate()
        self.origin = origin
        self.tree = MemoryTree()

    @property
    def vkey(self) -> str:
        return verifier_key(self.origin, self.key.public_key())

    def append(self, count: int, tag: bytes = b"entry") -> None:
        for _ in range(count):
            self.tree.append_data(tag + b"-" + str(len(self.tree)).encode())

    def note(self, size: int | None = None) -> str:
        size = len(self.tree) if size is None else size
        return sign_checkpoint(Checkpoint(self.origin, size, self.tree.root(size)), self.origin, self.key)

    def proof(self, old: int, new: int | None = None) -> list[bytes]:
        new = len(self.tree) if new is None else new
        return [] if old in (0, new) else self.tree.consistency_proof(old, new)


def make_witness(
    tmp_path: Path, log: MemoryLog, name: str = "w1.test/witness", clock: int = 1700000000
) -> Witness:
    state = WitnessState(tmp_path / f"{name.replace('/', '_')}.db")
    state.add_log(log.origin, log.vkey)
    return Witness(name, Ed25519PrivateKey.generate(), state, clock=lambda: clock)

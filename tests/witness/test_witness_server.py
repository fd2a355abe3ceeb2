"""The witness cosigns only append-only growth from what it cosigned last and keeps evidence of a fork."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.checkpoint import parse_note, parse_signed_note
from audit.witness.protocol import encode_add_checkpoint, parse_cosigner_vkey, verify_cosignature
from audit.witness.server import Witness, create_app
from tests.witness.helpers import MemoryLog, make_witness


async def _post(client: httpx.AsyncClient, old: int, proof: list[bytes], note: str) -> httpx.Response:
    return await client.post("/add-checkpoint", content=encode_add_checkpoint(old, proof, note))


def _client(witness: Witness) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(witness)), base_url="http://w")


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog()


@pytest.mark.anyio
async def test_witness_cosigns_a_consistent_chain_over_http(tmp_path: Path, log: MemoryLog) -> None:
    witness = make_witness(tmp_path, log)
    cosigner = parse_cosigner_vkey(witness.vkey)
    async with _client(witness) as client:
        old = 0
        for grow in (1, 5, 2, 9):
            log.append(grow)
            note = log.note()
            reply = await _post(client, old, log.proof(old), note)
            assert reply.status_code == 200, reply.text
            body, _ = parse_note(note)
            (line,) = parse_note("x\n\n" + reply.text)[1]
            assert verify_cosignature(body, line, cosigner) == 1700000000
            old = len(log.tree)
    assert witness.state.cosigned(log.origin).size == 17  # type: ignore[union-attr]
    assert witness.state.evidence() == []


def test_same_checkpoint_again_is_cosigned_again(tmp_path: Path, log: MemoryLog) -> None:
    witness = make_witness(tmp_path, log)
    log.append(3)
    assert witness.add_checkpoint(encode_add_checkpoint(0, [], log.note())).status == 200
    assert witness.add_checkpoint(encode_add_checkpoint(3, [], log.note())).status == 200


@pytest.mark.anyio
async def test_old_size_mismatch_is_409_with_the_witness_size(tmp_path: Path, log: MemoryLog) -> None:
    witness = make_witness(tmp_path, log)
    log.append(4)
    assert witness.add_checkpoint(encode_add_checkpoint(0, [], log.note())).status == 200
    log.append(3)
    async with _client(witness) as client:
        reply = await _post(client, 0, [], log.note())
        assert reply.status_code == 409
        assert reply.headers["content-type"] == "text/x.tlog.size"
        assert reply.text == "4\n"
        # The client retries from the size the witness named, with the proof from there.
        assert (await _post(client, 4, log.proof(4), log.note())).status_code == 200


def test_a_rewritten_history_is_refused_and_the_evidence_kept(tmp_path: Path, log: MemoryLog) -> None:
    witness = make_witness(tmp_path, log)
    log.append(8)
    honest = log.note()
    assert witness.add_checkpoint(encode_add_checkpoint(0, [], honest)).status == 200
    # The same operator key signs a different history: entry 3 rewritten, then grown.
    forked = MemoryLog(log.key)
    forked.append(3)
    forked.append(1, tag=b"rewritten")
    forked.append(8)
    # Its own proof from size 8 is consistent with its own tree, not with the tree the witness cosigned.
    reply = witness.add_checkpoint(encode_add_checkpoint(8, forked.proof(8), forked.note()))
    assert reply.status == 422
    # Same size, other root: 409, also evidence.
    reply = witness.add_checkpoint(encode_add_checkpoint(8, [], forked.note(8)))
    assert reply.status == 409 and reply.content_type != "text/x.tlog.size"
    kinds = [(e.kind, e.old_size) for e in witness.state.evidence(log.origin)]
    assert kinds == [("inconsistent", 8), ("fork", 8)]
    first = witness.state.evidence()[0]
    assert first.cosigned_note == honest and first.submitted_note == forked.note()
    assert first.proof.count("\n") == len(forked.proof(8))
    assert parse_signed_note(first.submitted_note)[0].size == 12
    # Nothing moved: the witness still holds the honest checkpoint.
    assert witness.state.cosigned(log.origin).note == honest  # type: ignore[union-attr]


def test_unknown_origin_404_untrusted_key_403_bad_request_400(tmp_path: Path, log: MemoryLog) -> None:
    witness = make_witness(tmp_path, log)
    log.append(2)
    other_origin = MemoryLog(origin="elsewhere.example/log")
    other_origin.append(2)
    assert witness.add_checkpoint(encode_add_checkpoint(0, [], other_origin.note())).status == 404
    impostor = MemoryLog(Ed25519PrivateKey.generate())
    impostor.append(2)
    assert witness.add_checkpoint(encode_add_checkpoint(0, [], impostor.note())).status == 403
    assert witness.add_checkpoint(encode_add_checkpoint(3, [], log.note())).status == 400  # old > size
    assert witness.add_checkpoint(b"old 0\nnonsense").status == 400
    assert witness.state.cosigned(log.origin) is None


def test_state_survives_a_restart(tmp_path: Path, log: MemoryLog) -> None:
    from audit.witness.server import Witness
    from audit.witness.state import WitnessState

    witness = make_witness(tmp_path, log)
    log.append(5)
    assert witness.add_checkpoint(encode_add_checkpoint(0, [], log.note())).status == 200
    witness.state.close()
    again = Witness("w1.test/witness", Ed25519PrivateKey.generate(), WitnessState(witness.state.path))
    log.append(1)
    assert again.add_checkpoint(encode_add_checkpoint(0, [], log.note())).status == 409


def test_racing_submissions_from_the_same_size_cannot_roll_the_witness_back(
    tmp_path: Path, log: MemoryLog
) -> None:
    """tlog-witness: checking ``old`` and storing the new size are one step, so of two requests from the same
    size exactly one is cosigned, the other gets 409, and the stored size is the winner's."""
    from concurrent.futures import ThreadPoolExecutor

    witness = make_witness(tmp_path, log)
    log.append(4)
    assert witness.add_checkpoint(encode_add_checkpoint(0, [], log.note())).status == 200
    log.append(6)
    bodies = [encode_add_checkpoint(4, log.proof(4, size), log.note(size)) for size in (5, 10)] * 10
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(witness.add_checkpoint, bodies))
    won = [size for size, reply in zip([5, 10] * 10, replies, strict=True) if reply.status == 200]
    assert len(won) == 1 and all(r.status in (200, 409) for r in replies)
    held = witness.state.cosigned(log.origin)
    assert held is not None and held.size == won[0]

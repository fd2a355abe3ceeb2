"""The witness: ``add-checkpoint`` as c2sp.org/tlog-witness specifies it, and its HTTP face (Starlette).

``Witness.add_checkpoint`` takes a request body and returns the status, content type and body to answer, so
the rules can be tested without HTTP; ``create_app`` wraps it for uvicorn (``gongyu witness serve``) or an
in-process ASGI transport (tests, the demo's benchmarks).

The order of the checks is the spec's: a malformed body is 400; an unknown origin 404; no signature by a key
the witness trusts for that origin 403; ``old`` beyond the checkpoint's size 400; ``old`` other than the size
last cosigned 409 with that size (``text/x.tlog.size``); the same size with another root 409 and a proof that
does not verify 422, both recorded as evidence; otherwise the new checkpoint is stored, then cosigned (200).
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from audit.checkpoint import CheckpointError, parse_checkpoint_body, verify_note
from audit.merkle import MerkleError, verify_consistency
from audit.witness.protocol import (
    ADD_CHECKPOINT_PATH,
    SIZE_MEDIA_TYPE,
    ProtocolError,
    cosign,
    cosigner_vkey,
    parse_add_checkpoint,
)
from audit.witness.state import WitnessState

log = logging.getLogger("gongyu.witness")

MAX_BODY = 64 * 1024  # a checkpoint, 63 hashes and a few signatures fit in far less


@dataclass(frozen=True)
class Reply:
    status: int
    body: str = ""
    content_type: str = "text/plain; charset=utf-8"


class Witness:
    """One witness key over one state file; ``clock`` gives the cosignature's POSIX seconds."""

    def __init__(
        self,
        name: str,
        private_key: Ed25519PrivateKey,
        state: WitnessState,
        clock: Callable[[], int] = lambda: int(time.time()),
    ) -> None:
        self.name = name
        self._key = private_key
        self.state = state
        self._clock = clock

    @property
    def vkey(self) -> str:
        return cosigner_vkey(self.name, self._key.public_key())

    def add_checkpoint(self, data: bytes) -> Reply:
        try:
            request = parse_add_checkpoint(data)
        except ProtocolError as exc:
            return Reply(400, f"{exc}\n")
        try:
            body_text = request.note[: request.note.rindex("\n\n") + 1]
            checkpoint = parse_checkpoint_body(body_text)
        except (ValueError, CheckpointError) as exc:
            return Reply(400, f"malformed checkpoint: {exc}\n")
        vkey = self.state.log_keys().get(checkpoint.origin)
        if vkey is None:
            return Reply(404, "unknown log origin\n")
        try:
            verify_note(request.note, vkey)  # signatures by other keys are ignored; ours must verify
        except CheckpointError:
            return Reply(403, "no valid signature by a key trusted for this origin\n")
        if request.old_size > checkpoint.size:
            return Reply(400, "old size is beyond the checkpoint's size\n")
        if request.old_size == 0 and request.proof:
            return Reply(400, "the proof must be empty when the old size is zero\n")
        proof_text = "".join(base64.b64encode(h).decode() + "\n" for h in request.proof)
        with self.state.transaction() as db:
            held = self.state.cosigned(checkpoint.origin, db)
            held_size = held.size if held else 0
            if request.old_size != held_size:
                return Reply(409, f"{held_size}\n", SIZE_MEDIA_TYPE)
            if held is not None and checkpoint.size == held.size and checkpoint.root_hash != held.root:
                self.state.store_evidence(
                    db,
                    checkpoint.origin,
                    "fork",
                    request.old_size,
                    held.note,
                    request.note,
                    proof_text,
                    f"size {held.size} was cosigned with another root",
                )
                log.warning("fork: same size, another root", extra={"origin": checkpoint.origin})
                return Reply(409, "a checkpoint of this size with another root was cosigned already\n")
            if held is not None and checkpoint.size > held.size:
                try:
                    verify_consistency(
                        held.size, checkpoint.size, list(request.proof), held.root, checkpoint.root_hash
                    )
                except MerkleError as exc:
                    self.state.store_evidence(
                        db,
                        checkpoint.origin,
                        "inconsistent",
                        request.old_size,
                        held.note,
                        request.note,
                        proof_text,
                        str(exc),
                    )
                    log.warning("consistency proof failed", extra={"origin": checkpoint.origin})
                    return Reply(422, "the consistency proof does not verify\n")
            elif held is not None and request.proof:
                return Reply(422, "the proof must be empty for a checkpoint of the size already cosigned\n")
            self.state.store_cosigned(
                db, checkpoint.origin, checkpoint.size, checkpoint.root_hash, request.note
            )
        line = cosign(body_text, self.name, self._key, self._clock()).line()
        return Reply(200, line)


def create_app(witness: Witness) -> Starlette:
    """The witness's HTTP face: ``POST /add-checkpoint`` (submission and monitoring prefix are the root)."""

    async def add_checkpoint(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
            return PlainTextResponse("request body too large\n", status_code=413)
        data = b""
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_BODY:
                return PlainTextResponse("request body too large\n", status_code=413)
        reply = witness.add_checkpoint(data)
        # Set verbatim: a 409's type is exactly text/x.tlog.size, without the charset Starlette would add.
        return Response(reply.body, status_code=reply.status, headers={"Content-Type": reply.content_type})

    async def vkey(request: Request) -> Response:
        return PlainTextResponse(witness.vkey + "\n")

    return Starlette(
        routes=[
            Route(ADD_CHECKPOINT_PATH, add_checkpoint, methods=["POST"]),
            Route("/vkey", vkey, methods=["GET"]),
        ]
    )

"""The audit log as C2SP tlog-tiles: ``/checkpoint``, ``/tile/<L>/<N>[.p/<W>]``, ``/tile/entries/<N>...``.

Readers (auditors, witnesses, residents' apps, monitors) fetch static-looking resources that any HTTP cache or
object store can serve, instead of asking the hub for each proof: a full hash tile never changes and is served
``public, max-age=31536000, immutable``; a partial tile is final for its width too, but stops being the newest
as the log grows, so it is cached briefly. Only what a signed checkpoint covers is served.

What the tiles expose: hash tiles hold hashes only (leaf hashes at level 0, which the public inclusion proofs
already reveal; each leaf contains a random UUID, so a leaf hash cannot be guessed back to an event). Entry
bundles hold the leaves themselves, with subject commitments, actors, purposes and entries whose disclosure is
still delayed, which the public may not read (``/v1/audit/leaves`` serves a leaf only to its resident or an
auditor). So entry bundles are for auditors only (bearer token), never cached by shared caches, and each read
is on the record as an ``audit_query`` event, like any auditor read, failing closed with 503.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from audit.tiles import TileId, parse_tile_path
from hub.audit_export import record_query
from hub.deps import AuditorDep, SessionDep, StateDep
from hub.errors import Problem

router = APIRouter(tags=["audit tiles"])

IMMUTABLE = "public, max-age=31536000, immutable"
PARTIAL = "public, max-age=10"
TILE_MEDIA = "application/octet-stream"


def _tile(path: str, entries: bool) -> TileId:
    """The tile the path names; 404 for anything that is not the one canonical spelling of a tile."""
    try:
        tile = parse_tile_path(("entries/" if entries else "") + path)
    except ValueError:
        raise Problem(404, "leaf-not-found") from None
    if (tile.level is None) != entries:
        raise Problem(404, "leaf-not-found")
    return tile


@router.get("/checkpoint", response_class=PlainTextResponse)
async def checkpoint(state: StateDep) -> PlainTextResponse:
    """The checkpoint with its witnesses' cosignatures, where tlog-tiles clients look (mutable: no-cache).

    The same note as ``/v1/audit/checkpoint``: with witnesses, the newest checkpoint a quorum cosigned.
    """
    served = await state.witnessing.served_checkpoint()
    if served is None:
        raise Problem(503, "no-checkpoint", headers={"Retry-After": "1"})
    return PlainTextResponse(
        served[1], media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-cache"}
    )


@router.get("/tile/entries/{path:path}")
async def entry_bundle(
    path: str, auditor: AuditorDep, request: Request, state: StateDep, session: SessionDep
) -> Response:
    """An entry bundle (auditors only, on the record): the leaves' RFC 8785 bytes, uint16 length-prefixed."""
    tile = _tile(path, entries=True)
    described = {"tile": tile.path}
    await record_query(state, session, "tiles", described, auditor, request.state.request_id)
    body = await state.audit_reader.entry_bundle(tile)
    if body is None:
        raise Problem(404, "leaf-not-found")
    return Response(body, media_type=TILE_MEDIA, headers={"Cache-Control": "private, no-store"})


@router.get("/tile/{path:path}")
async def hash_tile(path: str, state: StateDep) -> Response:
    """A hash tile: up to 256 consecutive 32-byte hashes of one tree level, public and cacheable."""
    tile = _tile(path, entries=False)
    body = await state.audit_reader.hash_tile(tile)
    if body is None:
        raise Problem(404, "leaf-not-found")
    return Response(
        body, media_type=TILE_MEDIA, headers={"Cache-Control": IMMUTABLE if tile.full else PARTIAL}
    )

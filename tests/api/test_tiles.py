"""The log as C2SP tlog-tiles: paths as the spec spells them, tiles equal to the stored tree and the proofs.

Three layers: the path and bundle arithmetic against the spec's own examples; a log of ``LEAVES`` synthetic
events where, for every tree size up to it, the tiles rebuild that size's root and give the same inclusion
and consistency proofs as the proof API's code; and the routes of the shared test hub (public hash tiles
with their cache headers, entry bundles for auditors only and on the record).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.checkpoint import verify_checkpoint
from audit.merkle import MemoryTree, leaf_hash
from audit.service import AuditReader
from audit.signer import LogSigner
from audit.synthetic import seed_synthetic
from audit.tiles import (
    TileId,
    check_tiles,
    decode_bundle,
    encode_bundle,
    encode_index,
    parse_tile_path,
    split_hashes,
    tiles_for_size,
)
from hub.db import create_engine as create_async_engine
from hub.db import session_factory
from hub.migrate import upgrade
from hub.settings import Settings, sync_url
from hub.state import HubState
from tests.conftest import _drop_pg, account_bearer, bearer

pytestmark = pytest.mark.anyio
LEAVES = 1100  # four full level-0 tiles, a partial one, partial level-1 tiles of widths 1..4
# Every size up to 300 (each partial width of the first tile, the first full tile, the first level-1 tile),
# then every seventh and each side of every tile boundary: every kind of tile, read a few hundred times.
SIZES = sorted(
    {*range(1, 301), *range(301, LEAVES, 7), LEAVES}
    | {b + d for b in range(512, LEAVES, 256) for d in (-1, 0, 1)}
)


# --------------------------------------------------------------------------- the spec's arithmetic


def test_tile_indices_are_written_in_x_prefixed_groups_of_three_digits() -> None:
    assert encode_index(1234067) == "x001/x234/067"
    assert encode_index(5) == "005"
    assert encode_index(1000) == "x001/000"
    assert TileId(0, 1234067, 7).path == "tile/0/x001/x234/067.p/7"
    assert TileId(None, 3).path == "tile/entries/003"
    for tile in (TileId(2, 0), TileId(0, 999_999, 255), TileId(None, 1234067, 1), TileId(63, 10**12)):
        assert parse_tile_path(tile.path.removeprefix("tile/")) == tile


@pytest.mark.parametrize(
    "path",
    ["0/5", "0/0005", "00/005", "64/000", "0/x000/005", "0/001/005", "0/005.p/0", "0/005.p/256", "0/005.p/07",
     "0/005.p", "entries", "0/", "x/005", "0/x001", "0/005/", "-1/005"],
)  # fmt: skip
def test_only_the_one_canonical_spelling_of_a_tile_is_accepted(path: str) -> None:
    with pytest.raises(ValueError):
        parse_tile_path(path)


def test_the_tiles_of_a_tree_are_the_ones_the_spec_lists() -> None:
    # "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0 tile of
    # width 112, one full level 1 tile, one partial level 1 tile of width 17, and one partial level 2 tile
    # of width 1"
    tiles = list(tiles_for_size(70_000))
    level0 = [t for t in tiles if t.level == 0]
    assert sum(t.full for t in level0) == 273 and [t.width for t in level0 if not t.full] == [112]
    assert [(t.index, t.width) for t in tiles if t.level == 1] == [(0, 256), (1, 17)]
    assert [(t.index, t.width) for t in tiles if t.level == 2] == [(0, 1)]
    # "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile of width 1"
    assert list(tiles_for_size(256)) == [TileId(0, 0), TileId(1, 0, 1)]


def test_an_entry_bundle_is_uint16_length_prefixed_entries() -> None:
    entries = [b"", b"a", "한글".encode(), bytes(300)]
    bundle = encode_bundle(entries)
    assert bundle[:2] == b"\x00\x00" and bundle[2:5] == b"\x00\x01a" and bundle[-302:-300] == b"\x01\x2c"
    assert decode_bundle(bundle) == entries
    with pytest.raises(ValueError):
        decode_bundle(bundle[:-1])
    with pytest.raises(ValueError):
        encode_bundle([bytes(70_000)])


# --------------------------------------------------------------------------- every size of a real log


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def seeded(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AuditReader]:
    name = f"gongyu_t_tiles_{secrets.token_hex(4)}"
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'tiles.db'}"
        if request.param == "sqlite"
        else f"postgresql+asyncpg://root@127.0.0.1:5432/{name}"
    )
    upgrade(Settings(var_dir=tmp_path, database_url=url))
    signer = LogSigner("test.gongyu/log", Ed25519PrivateKey.generate())
    assert (
        seed_synthetic(sync_url(url), LEAVES, signer.origin, signer.private_key, seed=7, workers=1) == LEAVES
    )
    engine = create_async_engine(url)
    try:
        yield AuditReader(session_factory(engine), signer)
    finally:
        await engine.dispose()
        if request.param == "postgres":
            _drop_pg(name)


async def test_tiles_rebuild_every_tree_size_and_give_the_same_proofs(seeded: AuditReader) -> None:
    served: dict[TileId, bytes] = {}
    for size in SIZES:
        for tile in tiles_for_size(size):
            if tile not in served:
                body = await seeded.hash_tile(tile)
                assert body is not None, tile.path
                served[tile] = body

    def fetch(path: str) -> bytes:
        return served[parse_tile_path(path.removeprefix("tile/"))]

    level0 = b"".join(served[t] for t in tiles_for_size(LEAVES) if t.level == 0)
    tree = MemoryTree(split_hashes(level0))  # every leaf hash, from tiles alone
    for size in SIZES:
        report = check_tiles(size, await seeded.root_at(size), fetch)
        assert report.ok and report.leaves_checked == size, (size, report.problems)
    for size in (1, 2, 255, 256, 257, 511, 512, 513, 1023, 1024, 1025, LEAVES):
        for leaf in sorted({0, size // 3, size - 1}):
            assert tree.inclusion_proof(leaf, size) == (await seeded.inclusion_proof(leaf, size))[1]
        for first in sorted({1, size // 2 or 1, size}):
            assert tree.consistency_proof(first, size) == (await seeded.consistency_proof(first, size))[1]
    # Nothing beyond the signed tree is served; a tile whose hashes exist only partly is not either.
    assert await seeded.hash_tile(TileId(0, LEAVES // 256 + 1, 1)) is None
    assert await seeded.hash_tile(TileId(1, 0)) is None  # a full level-1 tile needs 65,536 leaves


async def test_entry_bundles_hash_to_the_level_0_tiles(seeded: AuditReader) -> None:
    for tile in (TileId(None, 0), TileId(None, LEAVES // 256, LEAVES % 256)):
        bundle = await seeded.entry_bundle(tile)
        hashes = await seeded.hash_tile(TileId(0, tile.index, tile.width))
        assert bundle is not None and hashes is not None
        assert [leaf_hash(e) for e in decode_bundle(bundle)] == split_hashes(hashes)
    assert await seeded.entry_bundle(TileId(None, LEAVES // 256, LEAVES % 256 + 1)) is None


# --------------------------------------------------------------------------- the routes


async def _published(api: httpx.AsyncClient, state: HubState) -> int:
    await api.post("/v1/lookups", json={}, headers=bearer(state))  # an invalid lookup: still an event
    await state.integrator.integrate_once()
    key = (await api.get("/v1/audit/verifier-key")).text.strip()
    note = await api.get("/checkpoint")
    assert note.status_code == 200 and note.headers["content-type"] == "text/plain; charset=utf-8"
    assert note.headers["cache-control"] == "no-cache"
    assert note.text == (await api.get("/v1/audit/checkpoint")).text
    return verify_checkpoint(note.text, key).size


async def test_hash_tiles_are_public_and_cached_by_how_final_they_are(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    size = await _published(api, hub_state)
    tiles = list(tiles_for_size(size))
    bodies = {}
    for tile in tiles:
        response = await api.get("/" + tile.path)
        assert response.status_code == 200, (tile.path, response.text)
        assert response.headers["content-type"] == "application/octet-stream"
        expected = "public, max-age=31536000, immutable" if tile.full else "public, max-age=10"
        assert response.headers["cache-control"] == expected
        bodies[tile.path] = response.content
    root = await hub_state.audit_reader.root_at(size)
    assert check_tiles(size, root, bodies.__getitem__).ok
    # A leaf hash in a tile is the hash of the leaf an auditor reads, and the proof API agrees with the tiles.
    level0 = b"".join(bodies[t.path] for t in tiles if t.level == 0)
    auditor = account_bearer(hub_state, "auditor")
    leaf = (await api.get(f"/v1/audit/leaves/{size - 1}", headers=auditor)).content
    assert leaf_hash(leaf) == split_hashes(level0)[size - 1]
    proof = (await api.get("/v1/audit/proof/inclusion", params={"leaf_index": 0})).json()
    expected_path = MemoryTree(split_hashes(level0)).inclusion_proof(0, size)
    assert [base64.b64decode(h) for h in proof["hashes"]] == expected_path


async def test_tiles_beyond_the_checkpoint_or_misspelled_are_not_found(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    size = await _published(api, hub_state)
    beyond = TileId(0, size // 256, size % 256 + 1) if size % 256 < 255 else TileId(0, size // 256 + 1, 1)
    for path in (beyond.path, "tile/0/0", "tile/0/000.p/0", "tile/00/000.p/1", "tile/0/x000/000.p/1"):
        response = await api.get("/" + path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "immutable" not in response.headers.get("cache-control", "")


async def test_entry_bundles_are_for_auditors_only_and_each_read_is_recorded(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    size = await _published(api, hub_state)
    tile = TileId(None, (size - 1) // 256, size % 256 or 256)
    path = "/" + tile.path
    assert (await api.get(path)).status_code == 401
    assert (await api.get(path, headers=account_bearer(hub_state, "resident0"))).status_code == 403
    assert (await api.get(path, headers=bearer(hub_state))).status_code in (401, 403)
    before = await hub_state.audit.recent(1)
    response = await api.get(path, headers=account_bearer(hub_state, "auditor"))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, no-store"
    hashes = (await api.get("/" + TileId(0, tile.index, tile.width).path)).content
    assert [leaf_hash(e) for e in decode_bundle(response.content)] == split_hashes(hashes)
    recorded = (await hub_state.audit.recent(1))[0]
    assert recorded["seq"] > before[0]["seq"]
    assert recorded["kind"] == "audit_query" and recorded["purpose_code"] == "audit-tiles"
    assert tile.path in recorded["purpose_text"]


def _tiles_of(entries: list[bytes]) -> dict[str, bytes]:
    """The tiles of a log, built from its entries with the reference tree (not from any stored node)."""
    tree = MemoryTree([leaf_hash(e) for e in entries])
    served = {}
    for tile in tiles_for_size(len(entries)):
        span = 256 ** (tile.level or 0)
        first = tile.first_node * span
        served[tile.path] = b"".join(
            tree.subtree_hash(first + n * span, first + (n + 1) * span) for n in range(tile.width)
        )
    for index in range(0, len(entries), 256):
        chunk = entries[index : index + 256]
        served[TileId(None, index // 256, len(chunk)).path] = encode_bundle(chunk)
    return served


def test_a_tampered_tile_or_entry_is_named_by_the_tile_check() -> None:
    entries = [f'{{"n":{n}}}'.encode() for n in range(600)]
    served = _tiles_of(entries)
    root = MemoryTree([leaf_hash(e) for e in entries]).root()
    assert check_tiles(600, root, served.__getitem__, with_entries=True).ok
    forged = dict(served)
    tile = forged["tile/0/001"]
    forged["tile/0/001"] = tile[:64] + bytes(32) + tile[96:]  # leaf 258's hash replaced
    problems = check_tiles(600, root, forged.__getitem__).problems
    assert any("tile/1: hash 1" in p for p in problems) and any("root" in p for p in problems)
    forged = dict(served)
    forged["tile/entries/002.p/88"] = encode_bundle([*entries[512:599], b'{"n":"edited"}'])
    problems = check_tiles(600, root, forged.__getitem__, with_entries=True).problems
    assert problems == ["entry 599 does not hash to its level-0 tile hash"]

"""C2SP tlog-tiles arithmetic and encodings, pure and I/O-free (https://c2sp.org/tlog-tiles).

A tile at level ``L``, index ``N`` holds up to 256 consecutive hashes of tree level ``8 * L``: those of the
complete subtrees ``MTH(D[(N*256 + i) * 256**L : (N*256 + i + 1) * 256**L])``. The hub stores every complete
subtree's hash in ``audit_nodes`` as ``(level, idx)``, so a tile is the range ``idx in [N*256, N*256 + W)`` of
node level ``8 * L``: no tile table, and nothing stored twice. An entry bundle holds the leaves' bytes, each
prefixed by its length as a big-endian uint16.

Paths follow the spec exactly: the index in zero-padded groups of three digits, all but the last prefixed
with ``x`` (1234067 -> ``x001/x234/067``), and ``.p/<W>`` for a partial tile of width ``1 <= W <= 255``.
Parsing is strict (one spelling per tile), so a cache never holds two copies of one tile under two names.

The verifying side (:func:`check_tiles`) rebuilds a log from its tiles alone: every level-0 hash, each full
tile's subtree hash against the tile above it, the root against the signed checkpoint, and (given the
bundles) every entry against its leaf hash.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from hashlib import sha256

from audit.merkle import HASH_SIZE, leaf_hash, root_from_leaf_hashes

__all__ = [
    "HEIGHT",
    "WIDTH",
    "TileId",
    "TileReport",
    "check_tiles",
    "decode_bundle",
    "encode_bundle",
    "encode_index",
    "parse_tile_path",
    "tile_path",
    "tiles_for_size",
]

HEIGHT = 8
WIDTH = 1 << HEIGHT  # 256 hashes (or entries) in a full tile
MAX_ENTRY = 0xFFFF  # a bundle's length prefix is a uint16
_GROUP = re.compile(r"x\d{3}")
_LAST = re.compile(r"\d{3}")
_LEVEL = re.compile(r"0|[1-9]\d?")
_PART = re.compile(r"[1-9]\d{0,2}")


@dataclass(frozen=True)
class TileId:
    """One tile: ``level`` is the tile level (None for an entry bundle), ``width`` 256 when full."""

    level: int | None
    index: int
    width: int = WIDTH

    @property
    def full(self) -> bool:
        return self.width == WIDTH

    @property
    def node_level(self) -> int:
        """The ``audit_nodes`` level the tile's hashes live at (entry bundles: their leaves, level 0)."""
        return HEIGHT * (self.level or 0)

    @property
    def first_node(self) -> int:
        return self.index * WIDTH

    def needs_size(self) -> int:
        """The smallest tree size in which every hash (or entry) of this tile exists."""
        return (self.index * WIDTH + self.width) << self.node_level

    @property
    def path(self) -> str:
        return tile_path(self)


def encode_index(index: int) -> str:
    """``1234067`` -> ``x001/x234/067``; ``5`` -> ``005``."""
    if index < 0:
        raise ValueError("a tile index is non-negative")
    digits = str(index)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])


def tile_path(tile: TileId) -> str:
    """The resource path under the log's prefix, e.g. ``tile/0/x001/234.p/7`` or ``tile/entries/000``."""
    head = "tile/entries" if tile.level is None else f"tile/{tile.level}"
    tail = "" if tile.full else f".p/{tile.width}"
    return f"{head}/{encode_index(tile.index)}{tail}"


def parse_tile_path(path: str) -> TileId:
    """The tile a path under ``tile/`` names (``0/x001/234.p/7``, ``entries/005``); ``ValueError`` if none.

    Only the canonical spelling is accepted: no leading zeros in the level or width, three digits per index
    group, ``x`` on every group but the last, a first group that is not ``x000`` (so one index has one name),
    a level of at most 63 and a width of 1 to 255.
    """
    parts = path.split("/")
    if not parts or not parts[0]:
        raise ValueError("empty tile path")
    level: int | None
    if parts[0] == "entries":
        level = None
    elif _LEVEL.fullmatch(parts[0]) and int(parts[0]) <= 63:
        level = int(parts[0])
    else:
        raise ValueError("bad tile level")
    rest = parts[1:]
    width = WIDTH
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        if not _PART.fullmatch(rest[-1]) or not 1 <= int(rest[-1]) < WIDTH:
            raise ValueError("bad partial tile width")
        width = int(rest[-1])
        rest = [*rest[:-2], rest[-2][:-2]]
    if not rest or len(rest) > 7 or not _LAST.fullmatch(rest[-1]):
        raise ValueError("bad tile index")
    if any(not _GROUP.fullmatch(g) for g in rest[:-1]) or (len(rest) > 1 and rest[0] == "x000"):
        raise ValueError("bad tile index")
    index = int("".join(g.lstrip("x") for g in rest))
    return TileId(level, index, width)


def tiles_for_size(size: int) -> Iterator[TileId]:
    """Every hash tile (level by level, left to right) a tree of ``size`` leaves is served as."""
    level = 0
    while size >> (HEIGHT * level) > 0:
        count = size >> (HEIGHT * level)  # hashes at this tile level
        for index in range(count // WIDTH):
            yield TileId(level, index)
        if count % WIDTH:
            yield TileId(level, count // WIDTH, count % WIDTH)
        level += 1


def entry_tiles_for_size(size: int) -> Iterator[TileId]:
    for index in range(size // WIDTH):
        yield TileId(None, index)
    if size % WIDTH:
        yield TileId(None, size // WIDTH, size % WIDTH)


def encode_bundle(entries: Sequence[bytes]) -> bytes:
    """Entries as a bundle: each one's length as a big-endian uint16, then its bytes."""
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY:
            raise ValueError(f"an entry of {len(entry)} bytes does not fit a bundle's uint16 length")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_bundle(data: bytes) -> list[bytes]:
    entries: list[bytes] = []
    at = 0
    while at < len(data):
        if at + 2 > len(data):
            raise ValueError("truncated entry length")
        length = int.from_bytes(data[at : at + 2], "big")
        if at + 2 + length > len(data):
            raise ValueError("truncated entry")
        entries.append(data[at + 2 : at + 2 + length])
        at += 2 + length
    return entries


def split_hashes(data: bytes) -> list[bytes]:
    if len(data) % HASH_SIZE:
        raise ValueError(f"a tile is a whole number of {HASH_SIZE}-byte hashes")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def _full_tile_root(hashes: Sequence[bytes]) -> bytes:
    """MTH of a full tile's 256 hashes: the perfect subtree of height 8 they are the leaves of."""
    level = list(hashes)
    while len(level) > 1:
        level = [sha256(b"\x01" + a + b).digest() for a, b in zip(level[0::2], level[1::2], strict=True)]
    return level[0]


# --------------------------------------------------------------------------- verifying from tiles

Fetch = Callable[[str], bytes]  # a resource path under the prefix -> its body (raises on an HTTP error)


@dataclass
class TileReport:
    tree_size: int = 0
    tiles_read: int = 0
    leaves_checked: int = 0
    entries_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_tiles(
    size: int,
    root: bytes,
    fetch: Fetch,
    with_entries: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> TileReport:
    """Rebuild a tree of ``size`` leaves from its tiles and check it against the signed ``root``.

    Level 0 gives every leaf hash; the root of the tree they form must be ``root``. Each higher tile's hashes
    must be the roots of the full tiles below (so a log cannot serve one set of leaves and different upper
    tiles to proof-computing clients). With ``with_entries`` every entry is hashed and compared with its
    leaf hash. Problems are collected, not raised, so one report names every bad tile.
    """
    report = TileReport(tree_size=size)
    by_level: dict[int, list[bytes]] = {}
    for tile in tiles_for_size(size):
        try:
            hashes = split_hashes(fetch(tile.path))
        except ValueError as exc:
            report.problems.append(f"{tile.path}: {exc}")
            hashes = []
        report.tiles_read += 1
        if len(hashes) != tile.width:
            report.problems.append(f"{tile.path}: {len(hashes)} hashes, want {tile.width}")
            hashes = (hashes + [bytes(HASH_SIZE)] * tile.width)[: tile.width]
        by_level.setdefault(tile.level or 0, []).extend(hashes)
        if progress and tile.level == 0:
            progress(len(by_level[0]), size)
    leaves = by_level.get(0, [])
    report.leaves_checked = len(leaves)
    for level in sorted(by_level):
        above = by_level.get(level + 1, [])
        below = by_level[level]
        for n, expected in enumerate(above):
            if _full_tile_root(below[n * WIDTH : (n + 1) * WIDTH]) != expected:
                report.problems.append(f"tile/{level + 1}: hash {n} is not the root of tile/{level}/{n}")
    if root_from_leaf_hashes(leaves) != root:
        report.problems.append("the level-0 tiles do not hash to the signed checkpoint's root")
    if with_entries:
        for tile in entry_tiles_for_size(size):
            try:
                entries = decode_bundle(fetch(tile.path))
            except ValueError as exc:
                report.problems.append(f"{tile.path}: {exc}")
                continue
            report.tiles_read += 1
            if len(entries) != tile.width:
                report.problems.append(f"{tile.path}: {len(entries)} entries, want {tile.width}")
            for n, entry in enumerate(entries[: tile.width]):
                index = tile.first_node + n
                if index < len(leaves) and leaf_hash(entry) != leaves[index]:
                    report.problems.append(f"entry {index} does not hash to its level-0 tile hash")
                report.entries_checked += 1
    return report

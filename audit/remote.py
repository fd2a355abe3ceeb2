"""Verify a running hub's log from outside, with nothing but its public endpoints and an auditor token.

The checkpoint's signature is checked against the verifier key (pin it with ``--verifier-key``; fetching it
from the same hub only proves self-consistency). With a token, the full export pinned to the checkpoint's size
is streamed, every leaf recomputed, and the tree root compared with the signed one: any event the hub altered,
dropped or reordered since it signed makes the roots differ. ``verify_tiles`` does the same from the log's
C2SP tiles alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from audit.checkpoint import CheckpointError, verify_checkpoint
from audit.events import canonical_json
from audit.merkle import leaf_hash
from audit.tiles import TileReport, check_tiles
from audit.tree import RightEdge


@dataclass
class RemoteReport:
    tree_size: int = 0
    leaves_checked: int = 0
    key_pinned: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_remote(
    base_url: str,
    token: str | None,
    verifier_key: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    client: httpx.Client | None = None,
) -> RemoteReport:
    report = RemoteReport(key_pinned=verifier_key is not None)
    http = client or httpx.Client(base_url=base_url, timeout=60)
    try:
        key = verifier_key or http.get("/v1/audit/verifier-key").raise_for_status().text.strip()
        note = http.get("/v1/audit/checkpoint").raise_for_status().text
        try:
            checkpoint = verify_checkpoint(note, key)
        except CheckpointError as exc:
            report.problems.append(f"checkpoint: {exc}")
            return report
        report.tree_size = checkpoint.size
        if token is None:
            return report
        edge = RightEdge()
        expected = 0
        params = {"format": "jsonl", "tree_size": str(checkpoint.size)}
        headers = {"Authorization": f"Bearer {token}"}
        with http.stream("GET", "/v1/audit/export", params=params, headers=headers) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line:
                    continue
                record = json.loads(line)
                index = record.pop("leaf_index")
                if index != expected:
                    report.problems.append(f"leaf {expected}: export jumps to leaf {index}")
                    expected = index
                edge.push(leaf_hash(canonical_json(record)))
                expected += 1
                report.leaves_checked += 1
                if progress and report.leaves_checked % 5000 == 0:
                    progress(report.leaves_checked, checkpoint.size)
        if progress:
            progress(report.leaves_checked, checkpoint.size)
        if report.leaves_checked != checkpoint.size:
            report.problems.append(
                f"export has {report.leaves_checked} leaves, checkpoint says {checkpoint.size}"
            )
        elif edge.root() != checkpoint.root_hash:
            report.problems.append("the events exported do not hash to the signed checkpoint's root")
        return report
    finally:
        if client is None:
            http.close()


def verify_tiles(
    prefix: str,
    token: str | None,
    verifier_key: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    client: httpx.Client | None = None,
) -> tuple[RemoteReport, TileReport | None, str | None]:
    """Rebuild a log from its C2SP tiles at ``prefix`` and check it against its signed checkpoint.

    Only ``<prefix>/checkpoint`` and ``<prefix>/tile/...`` are read (plus the hub's verifier key when none is
    pinned), so this works as well against a static mirror or an HTTP cache as against the hub. With an
    auditor token the entry bundles are read too and every entry is hashed against its leaf.
    """
    report = RemoteReport(key_pinned=verifier_key is not None)
    http = client or httpx.Client(base_url=prefix, timeout=60)
    try:
        key = verifier_key or http.get("/v1/audit/verifier-key").raise_for_status().text.strip()
        note = http.get("/checkpoint").raise_for_status().text
        try:
            checkpoint = verify_checkpoint(note, key)
        except CheckpointError as exc:
            report.problems.append(f"checkpoint: {exc}")
            return report, None, None
        report.tree_size = checkpoint.size
        headers = {"Authorization": f"Bearer {token}"} if token else {}

        def fetch(path: str) -> bytes:
            extra = headers if path.startswith("tile/entries/") else {}
            return http.get("/" + path, headers=extra).raise_for_status().content

        tiles = check_tiles(checkpoint.size, checkpoint.root_hash, fetch, token is not None, progress)
        report.leaves_checked = tiles.entries_checked
        report.problems.extend(tiles.problems)
        return report, tiles, note
    finally:
        if client is None:
            http.close()

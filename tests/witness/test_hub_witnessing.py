"""The hub submits its checkpoints to witnesses, serves them cosigned, and verifiers require the quorum.

Witnesses run in this process (their ASGI apps behind a transport that routes by host), each with its own
state file; the hub is the shared test hub on SQLite and PostgreSQL. A fresh witness holds nothing, so it
accepts whatever size the shared log has reached as its first checkpoint (``old 0``).
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from audit.checkpoint import Checkpoint, verify_checkpoint
from audit.merkle import MemoryTree
from audit.service import PublishedCheckpoint
from audit.witness.protocol import encode_add_checkpoint
from audit.witness.server import Witness, create_app
from audit.witness.state import WitnessState
from audit.witness_check import check_cosignatures
from hub.settings import WitnessConfig
from hub.state import HubState
from hub.witnessing import Witnessing
from tests.conftest import Backend, account_bearer, bearer
from tests.helpers.pages import open_browsers, sign_in

pytestmark = pytest.mark.anyio


class Router(httpx.AsyncBaseTransport):
    """Routes ``http://<host>/...`` to that witness's app; a host in ``down`` refuses connections."""

    def __init__(self, witnesses: dict[str, Witness]) -> None:
        self.apps = {host: httpx.ASGITransport(app=create_app(w)) for host, w in witnesses.items()}
        self.down: set[str] = set()
        self.calls: list[tuple[str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        response = await self.apps[host].handle_async_request(request)
        self.calls.append((host, response.status_code))
        return response


def _witness(tmp_path: Path, state: HubState, host: str) -> Witness:
    store = WitnessState(tmp_path / f"{host}.db")
    store.add_log(state.settings.origin, state.audit_reader.signer.verifier_key)
    return Witness(f"{host}/witness", Ed25519PrivateKey.generate(), store)


def _configure(state: HubState, witnesses: dict[str, Witness], quorum: int | None = None) -> Router:
    router = Router(witnesses)
    configs = [WitnessConfig(url=f"http://{host}", vkey=w.vkey) for host, w in witnesses.items()]
    state.witnessing = Witnessing(
        state.sessions, state.audit_reader, configs, quorum or len(configs), transport=router
    )
    state.integrator.on_publish = state.witnessing.notify
    return router


@pytest.fixture
def pair(tmp_path: Path, hub_state: HubState) -> dict[str, Witness]:
    return {host: _witness(tmp_path, hub_state, host) for host in ("w1.test", "w2.test")}


async def _new_checkpoint(api: httpx.AsyncClient, state: HubState) -> int:
    await api.post("/v1/lookups", json={}, headers=bearer(state))  # an invalid lookup: still an event
    result = await state.integrator.integrate_once()
    assert result.checkpoint_published
    return result.tree_size


async def test_each_checkpoint_is_cosigned_and_served_with_the_cosignatures(
    api: httpx.AsyncClient, hub_state: HubState, pair: dict[str, Witness]
) -> None:
    router = _configure(hub_state, pair)
    vkeys = [w.vkey for w in pair.values()]
    first = await _new_checkpoint(api, hub_state)
    assert await hub_state.witnessing.submit_latest() == {
        "w1.test/witness": "cosigned",
        "w2.test/witness": "cosigned",
    }
    second = await _new_checkpoint(api, hub_state)
    assert await hub_state.witnessing.submit_latest() == {
        "w1.test/witness": "cosigned",
        "w2.test/witness": "cosigned",
    }
    assert second > first
    for witness in pair.values():  # the second submission was a consistency proof from the first size
        held = witness.state.cosigned(hub_state.settings.origin)
        assert held is not None and held.size == second
        assert witness.state.evidence() == []
    assert [status for _, status in router.calls] == [200, 200, 200, 200]
    note = (await api.get("/v1/audit/checkpoint")).text
    assert (await api.get("/checkpoint")).text == note
    assert verify_checkpoint(note, hub_state.audit_reader.signer.verifier_key).size == second
    check = check_cosignatures(note, vkeys)
    assert check.ok and sorted(check.valid) == ["w1.test/witness", "w2.test/witness"]
    listed = (await api.get("/v1/audit/witnesses")).json()
    assert listed == {
        "witnesses": [
            {"name": f"{host}/witness", "url": f"http://{host}", "vkey": w.vkey} for host, w in pair.items()
        ],
        "quorum": 2,
    }
    # Nothing new: nothing is submitted again.
    assert await hub_state.witnessing.submit_latest() == {}


async def test_409_names_the_witness_size_and_the_hub_retries_from_it(
    api: httpx.AsyncClient, hub_state: HubState, pair: dict[str, Witness]
) -> None:
    router = _configure(hub_state, {"w1.test": pair["w1.test"]})
    # The witness already cosigned this log at some size, which the hub never stored (e.g. a restored backup).
    size = await _new_checkpoint(api, hub_state)
    latest = await hub_state.audit_reader.latest_checkpoint()
    assert latest is not None
    assert pair["w1.test"].add_checkpoint(encode_add_checkpoint(0, [], latest.note)).status == 200
    newer = await _new_checkpoint(api, hub_state)
    assert await hub_state.witnessing.submit_latest() == {"w1.test/witness": "cosigned"}
    assert router.calls == [("w1.test", 409), ("w1.test", 200)]
    held = pair["w1.test"].state.cosigned(hub_state.settings.origin)
    assert held is not None and held.size == newer > size


class ForkedReader:
    """What a hub that rewrote its history would read: another tree, signed with the same log key."""

    def __init__(self, state: HubState, tree: MemoryTree) -> None:
        self.signer = state.audit_reader.signer
        self.tree = tree

    async def latest_checkpoint(self) -> PublishedCheckpoint:
        size = len(self.tree)
        root = self.tree.root(size)
        return PublishedCheckpoint(size, root, self.signer.sign(Checkpoint(self.signer.origin, size, root)))

    async def consistency_proof(self, first: int, second: int | None) -> tuple[int, list[bytes]]:
        size = len(self.tree) if second is None else second
        return size, self.tree.consistency_proof(first, size)


async def test_a_hub_that_rewrites_history_is_refused_and_the_witness_keeps_the_evidence(
    api: httpx.AsyncClient, hub_state: HubState, pair: dict[str, Witness]
) -> None:
    _configure(hub_state, {"w1.test": pair["w1.test"]})
    size = await _new_checkpoint(api, hub_state)
    assert await hub_state.witnessing.submit_latest() == {"w1.test/witness": "cosigned"}
    honest = pair["w1.test"].state.cosigned(hub_state.settings.origin)
    assert honest is not None and honest.size == size
    # The operator rewrites the log: other entries, the same key, grown past what the witness saw.
    forked = MemoryTree()
    for i in range(size + 3):
        forked.append_data(b"rewritten-%d" % i)
    router = Router({"w1.test": pair["w1.test"]})
    fork = Witnessing(
        hub_state.sessions,
        ForkedReader(hub_state, forked),  # type: ignore[arg-type]
        [WitnessConfig(url="http://w1.test", vkey=pair["w1.test"].vkey)],
        1,
        transport=router,
    )
    assert await fork.submit_latest() == {"w1.test/witness": "refused 422"}
    # The same size with another root is refused too (the hub never resubmits a size, so ask directly).
    same_size = await ForkedReader(hub_state, MemoryTree(forked.leaf_hashes[:size])).latest_checkpoint()
    reply = pair["w1.test"].add_checkpoint(encode_add_checkpoint(size, [], same_size.note))
    assert reply.status == 409 and reply.content_type != "text/x.tlog.size"
    evidence = pair["w1.test"].state.evidence(hub_state.settings.origin)
    assert [(e.kind, e.old_size) for e in evidence] == [("inconsistent", size), ("fork", size)]
    assert evidence[0].cosigned_note == honest.note
    assert (
        verify_checkpoint(evidence[0].submitted_note, hub_state.audit_reader.signer.verifier_key).size
        == size + 3
    )
    assert pair["w1.test"].state.cosigned(hub_state.settings.origin) == honest
    # Nothing of the fork was stored by the hub: the served checkpoint is still the honest one.
    served = await hub_state.witnessing.served_checkpoint()
    assert served is not None and served[0] == size


async def test_without_the_quorum_verification_fails_and_names_the_missing_witness(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend, pair: dict[str, Witness]
) -> None:
    router = _configure(hub_state, pair)
    router.down.add("w2.test")
    vkeys = [w.vkey for w in pair.values()]
    await _new_checkpoint(api, hub_state)
    assert await hub_state.witnessing.submit_latest() == {
        "w1.test/witness": "cosigned",
        "w2.test/witness": "unreachable",
    }
    note = (await api.get("/v1/audit/checkpoint")).text
    check = check_cosignatures(note, vkeys)
    assert not check.ok and check.valid == ["w1.test/witness"] and check.missing == ["w2.test/witness"]
    assert "witness w2.test/witness: no cosignature" in check.problems()
    assert check_cosignatures(note, vkeys, quorum=1).ok
    # The resident's API hands over the witnesses and the quorum with the cosigned checkpoint.
    log = (await api.get("/v1/me/access-log", headers=account_bearer(hub_state, "resident0"))).json()
    assert log["witnesses"] == vkeys and log["witness_quorum"] == 2
    assert check_cosignatures(log["checkpoint"], log["witnesses"], log["witness_quorum"]).missing == [
        "w2.test/witness"
    ]
    # A tampered cosignature is named as bad, not as missing.
    line = next(x for x in note.splitlines() if x.startswith("\u2014 w1.test/witness "))
    blob = line.split(" ")[2]
    tampered = note.replace(
        line, line.replace(blob, blob[:20] + ("A" if blob[20] != "A" else "B") + blob[21:])
    )
    bad = check_cosignatures(tampered, vkeys, quorum=1)
    assert not bad.ok and [name for name, _ in bad.bad] == ["w1.test/witness"]
    # The history page gives the browser's check the witnesses, the quorum and the message naming them.
    async with open_browsers(hub_state, backend, 1) as (browser,):
        assert (await sign_in(browser, "resident0", "resident0-pw", "/me/history")).status_code == 303
        page = (await browser.get("/me/history")).text
    assert f'data-witnesses="{html.escape(" ".join(vkeys))}"' in page
    assert 'data-witness-quorum="2"' in page and "data-msg-witness-missing=" in page
    shown = html.unescape(re.search(r'<pre id="checkpoint">(.*?)</pre>', page, re.S).group(1))  # type: ignore[union-attr]
    assert check_cosignatures(shown, vkeys).missing == ["w2.test/witness"]


async def test_a_failing_witness_is_left_alone_for_a_growing_while_and_then_tried_again(
    api: httpx.AsyncClient, hub_state: HubState, pair: dict[str, Witness]
) -> None:
    router = _configure(hub_state, pair)
    now = [1000.0]
    hub_state.witnessing._monotonic = lambda: now[0]
    router.down.add("w2.test")
    await _new_checkpoint(api, hub_state)
    assert (await hub_state.witnessing.submit_latest())["w2.test/witness"] == "unreachable"
    await _new_checkpoint(api, hub_state)
    assert await hub_state.witnessing.submit_latest() == {"w1.test/witness": "cosigned"}  # w2 not asked
    now[0] += 1.0
    assert (await hub_state.witnessing.submit_latest())["w2.test/witness"] == "unreachable"
    await _new_checkpoint(api, hub_state)
    now[0] += 1.5  # the second failure doubled the wait to 2 s
    assert await hub_state.witnessing.submit_latest() == {"w1.test/witness": "cosigned"}
    router.down.clear()
    now[0] += 0.5
    assert await hub_state.witnessing.submit_latest() == {"w2.test/witness": "cosigned"}
    note = (await api.get("/v1/audit/checkpoint")).text
    assert check_cosignatures(note, [w.vkey for w in pair.values()]).ok


async def test_the_integrator_wakes_the_witnessing_task_without_waiting_for_it(
    api: httpx.AsyncClient, hub_state: HubState, pair: dict[str, Witness]
) -> None:
    _configure(hub_state, pair)
    stop = asyncio.Event()
    task = asyncio.create_task(hub_state.witnessing.run(stop, poll=60))
    integrating = asyncio.create_task(hub_state.integrator.run(0.05, stop))
    try:
        await api.post("/v1/lookups", json={}, headers=bearer(hub_state))
        for _ in range(200):
            latest = await hub_state.audit_reader.latest_checkpoint()
            held = [w.state.cosigned(hub_state.settings.origin) for w in pair.values()]
            if latest and all(h is not None and h.size == latest.tree_size for h in held):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the witnesses never cosigned the new checkpoint")
    finally:
        stop.set()
        await asyncio.gather(task, integrating)


def _cli_env(backend: Backend) -> dict[str, str]:
    settings = backend.settings
    env = {"GONGYU_VAR_DIR": str(settings.var_dir), "GONGYU_ENVIRONMENT": "test"}
    if settings.database_url:
        env["GONGYU_DATABASE_URL"] = settings.database_url
    return env


async def test_gongyu_audit_verify_requires_the_quorum_and_names_who_is_missing(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend, pair: dict[str, Witness]
) -> None:
    from hub.cli import app

    router = _configure(hub_state, pair)
    router.down.add("w2.test")
    await _new_checkpoint(api, hub_state)
    await hub_state.witnessing.submit_latest()
    args: Sequence[str] = ["audit", "verify", *(x for w in pair.values() for x in ("--witness", w.vkey))]
    runner = CliRunner()
    failed = await asyncio.to_thread(runner.invoke, app, list(args), env=_cli_env(backend))
    assert failed.exit_code == 1, failed.output
    assert "log verified" in failed.output and "witness w2.test/witness: no cosignature" in failed.output
    passed = await asyncio.to_thread(runner.invoke, app, [*args, "--quorum", "1"], env=_cli_env(backend))
    assert passed.exit_code == 0, passed.output
    assert "witnessed" in passed.output and "w1.test/witness" in passed.output

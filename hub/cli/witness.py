"""``gongyu witness``: run an independent C2SP tlog-witness for a log (``init``, ``serve``, ``evidence``).

The witness is its own component (``audit.witness``), with its own key and state file; these commands only
parse options and start it. The hub is configured with the vkey ``init`` prints (``GONGYU_WITNESSES``).
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Annotated

import typer

from hub.cli.common import console

witness_app = typer.Typer(
    help="An independent witness that cosigns the log's checkpoints.", no_args_is_help=True
)

KeyDir = Annotated[Path, typer.Option("--key-dir", help="where the witness's key lives (witness.key)")]
StatePath = Annotated[Path, typer.Option("--state", help="the witness's own SQLite state file")]


@witness_app.command("init")
def witness_init(
    key_dir: KeyDir,
    name: Annotated[
        str, typer.Option(help="the witness's name, a schema-less URL (e.g. witness.example.org/w1)")
    ] = "gongyu.local/witness",
) -> None:
    """Create the witness key (kept if it exists); print its verifier key for the hub's GONGYU_WITNESSES."""
    from audit.witness.keyfile import init_key
    from audit.witness.protocol import ProtocolError, cosigner_vkey

    try:
        found, private, created = init_key(key_dir, name)
    except ProtocolError as exc:
        raise typer.BadParameter(str(exc)) from None
    console.print(f"{'created' if created else 'kept the existing'} witness key {found} in {key_dir}")
    typer.echo(cosigner_vkey(found, private.public_key()))


@witness_app.command("serve")
def witness_serve(
    key_dir: KeyDir,
    state: StatePath,
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8101,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    log: Annotated[
        list[str] | None,
        typer.Option("--log", help="a log's verifier key (origin = key name), or ORIGIN=VKEY; repeatable"),
    ] = None,
) -> None:
    """Serve POST /add-checkpoint; the logs given with --log are remembered in the state file."""
    import uvicorn

    from audit.checkpoint import CheckpointError, parse_verifier_key
    from audit.witness.keyfile import key_path, load_key
    from audit.witness.server import Witness, create_app
    from audit.witness.state import WitnessState

    if not key_path(key_dir).exists():
        console.print(
            f"[red]error:[/] no witness key in {key_dir}; run `gongyu witness init --key-dir {key_dir}`"
        )
        raise typer.Exit(2)
    name, private = load_key(key_dir)
    store = WitnessState(state)
    for entry in log or []:
        origin, sep, vkey = entry.partition("=")
        if not sep:
            origin, vkey = "", entry
        try:
            key_name, _, _ = parse_verifier_key(vkey)
        except CheckpointError as exc:
            raise typer.BadParameter(f"--log {entry!r}: {exc}") from None
        store.add_log(origin or key_name, vkey)
    known = store.log_keys()
    if not known:
        console.print("[yellow]note:[/] no log configured yet (--log VKEY); every request will be 404")
    witness = Witness(name, private, store)
    console.print(f"witness {name} on http://{host}:{port} for {', '.join(known) or 'no log'}")
    uvicorn.run(create_app(witness), host=host, port=port, access_log=False, log_level="warning")


@witness_app.command("evidence")
def witness_evidence(state: StatePath) -> None:
    """Print what the witness refused and kept as evidence (both checkpoints and the proof), as JSON lines."""
    import json
    from dataclasses import asdict

    from audit.witness.state import WitnessState

    for item in WitnessState(state).evidence():
        typer.echo(json.dumps(asdict(item), ensure_ascii=False))


DEMO_WITNESSES = ("witness1.gongyu.local", "witness2.gongyu.local")


def start_demo_witnesses(var_dir: Path, log_vkey: str, hub_port: int) -> list[subprocess.Popen[bytes]]:
    """``gongyu demo``'s two witnesses: their own keys and state under ``var/witnessN/``, their own processes.

    They listen on the hub's port + 101 and + 102 and are put in ``GONGYU_WITNESSES`` for the hub about to
    start (unless it is set already: then the demo uses those). The caller terminates the processes.
    """
    import json
    import os
    import sys

    from audit.witness.keyfile import init_key
    from audit.witness.protocol import cosigner_vkey

    if os.environ.get("GONGYU_WITNESSES"):
        return []
    processes, configured = [], []
    for number, name in enumerate(DEMO_WITNESSES, start=1):
        key_dir = var_dir / f"witness{number}"
        found, private, _ = init_key(key_dir, name)
        port = hub_port + 100 + number
        command = [sys.executable, "-m", "hub.cli", "witness", "serve", "--key-dir", str(key_dir)]
        command += ["--state", str(key_dir / "state.db"), "--port", str(port), "--log", log_vkey]
        processes.append(subprocess.Popen(command))  # noqa: S603 - our own CLI, arguments we built
        url = f"http://127.0.0.1:{port}"
        configured.append({"url": url, "vkey": cosigner_vkey(found, private.public_key())})
        console.print(f"Witness:    {url}  ({found}, pid {processes[-1].pid}, state {key_dir}/state.db)")
    os.environ["GONGYU_WITNESSES"] = json.dumps(configured)
    # uvicorn re-raises the SIGTERM it caught once the hub has shut down; as SystemExit it unwinds through the
    # demo's ``finally`` (which stops these processes) instead of killing the demo and orphaning them.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    return processes


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def stop_demo_witnesses(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()

"""``gongyu credentials``: the issuer key, and a holder (wallet) for tests and demos.

``holder keygen`` makes the P-256 key pair a wallet binds its credentials to (``cnf.jwk`` is its public half);
``holder present`` opens only the named fields of a credential, with a key-binding JWT for one verifier
(``--aud``) and its challenge (``--nonce``). ``issuer-key`` makes the hub's issuer key ahead of start-up, as a
production hub never creates keys on its own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from hub.cli.common import console
from hub.settings import Settings

credentials_app = typer.Typer(help="SD-JWT VCs: the issuer key, and a holder (wallet) for tests.")
holder_app = typer.Typer(help="Act as a credential holder (a wallet).", no_args_is_help=True)
credentials_app.add_typer(holder_app, name="holder")


@credentials_app.command("issuer-key")
def issuer_key() -> None:
    """Make the credential issuer's P-256 key in the key directory (kept if it exists) and print its JWK."""
    from hub.credentials.keys import issuer_key_path, load_issuer_key

    settings = Settings()
    key = load_issuer_key(settings.effective_key_dir, create=True)
    assert key is not None
    console.print(f"issuer key: {issuer_key_path(settings.effective_key_dir)}")
    typer.echo(json.dumps(key.public_jwk(), indent=2))


@holder_app.command("keygen")
def holder_keygen(
    out: Annotated[Path, typer.Option(help="where to write the private JWK (owner-only)")] = Path(
        "holder-key.jwk"
    ),
) -> None:
    """Make a wallet key pair: the private JWK goes to OUT, the public JWK (for cnf) is printed."""
    from hub.credentials import holder

    private = holder.keygen()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(private, handle)
    typer.echo(json.dumps(holder.public_jwk(private)))


@holder_app.command("present")
def holder_present(
    credential: Annotated[
        Path, typer.Option(help="file holding the credential (SD-JWT issuance, ends with ~)")
    ],
    key: Annotated[Path, typer.Option(help="the private JWK from `holder keygen`")],
    aud: Annotated[str, typer.Option(help="the verifier's identifier (KB-JWT aud)")],
    nonce: Annotated[str, typer.Option(help="the verifier's challenge (KB-JWT nonce)")],
    disclose: Annotated[str, typer.Option(help="comma-separated fields to open, e.g. name,address")] = "",
) -> None:
    """Print a presentation opening only the fields named in --disclose, bound to --aud and --nonce."""
    from hub.credentials import holder

    text = credential.read_text().strip()
    if text.startswith("{"):  # the whole answer of POST /v1/me/credentials
        text = json.loads(text)["credential"]
    chosen = [name.strip() for name in disclose.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(holder.disclosable(text)))
    if unknown:
        console.print(f"[red]not in this credential:[/] {', '.join(unknown)}")
        raise typer.Exit(2)
    private = json.loads(key.read_text())
    typer.echo(holder.present(text, chosen, aud, nonce, private))


@holder_app.command("fields")
def holder_fields(
    credential: Annotated[Path, typer.Option(help="file holding the credential")],
) -> None:
    """List the fields a credential can disclose."""
    from hub.credentials import holder

    text = credential.read_text().strip()
    if text.startswith("{"):
        text = json.loads(text)["credential"]
    typer.echo("\n".join(holder.disclosable(text)))

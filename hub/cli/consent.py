"""``gongyu consent``: consents and their receipts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hub.cli.common import console
from hub.settings import Settings

consent_app = typer.Typer(help="Consents and their receipts.", no_args_is_help=True)


@consent_app.command("verify-receipt")
def consent_verify_receipt(
    file: Annotated[Path, typer.Argument(help="file holding the receipt (compact JWS)")],
    jwks: Annotated[
        str | None, typer.Option(help="JWKS file or URL (default: PUBLIC_URL/.well-known/gongyu/keys)")
    ] = None,
) -> None:
    """Check a consent receipt offline against the published keys and print what it attests."""
    import httpx
    import jwt
    from jwt.algorithms import OKPAlgorithm

    source = jwks or f"{Settings().public_url}/.well-known/gongyu/keys"
    try:
        if source.startswith(("http://", "https://")):
            keys = httpx.get(source, timeout=10).raise_for_status().json()["keys"]
        else:
            keys = json.loads(Path(source).read_text())["keys"]
        token = file.read_text().strip()
        kid = jwt.get_unverified_header(token).get("kid")
        jwk = next((k for k in keys if k.get("kid") == kid and k.get("crv") == "Ed25519"), None)
        if jwk is None:
            raise ValueError(f"no published key with kid {kid!r}")
        key = OKPAlgorithm.from_jwk(json.dumps(jwk))
        claims = json.loads(jwt.api_jws.PyJWS().decode(token, key, algorithms=["EdDSA"]))  # type: ignore[arg-type]
    except (OSError, ValueError, KeyError, httpx.HTTPError, jwt.PyJWTError) as exc:
        console.print(f"[red]receipt NOT valid:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(f"[green]receipt valid[/] (key {kid})")
    typer.echo(json.dumps(claims, indent=2, ensure_ascii=False))

"""``gongyu doc verify`` and ``gongyu keys init|rotate|list``: offline verification and the hub's keys.

Mounted in ``hub/cli/__init__.py`` with::

    from hub.issuance.cli import doc_app, keys_app
    app.add_typer(doc_app, name="doc"); app.add_typer(keys_app, name="keys")
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from hub.issuance import qr
from hub.issuance.verify import PdfVerification, TrustAnchors, verify_pdf

doc_app = typer.Typer(help="Stamped e-documents.", no_args_is_help=True)
keys_app = typer.Typer(help="The hub's key material (init) and document-signing keys.", no_args_is_help=True)
console = Console(stderr=True)

EXIT = {"valid": 0, "invalid": 1, "expired": 3}


@doc_app.callback()
def _doc() -> None:
    """Stamped e-documents (verify offline from the published keys)."""


def _local_jwks() -> dict[str, Any]:
    """The trust list this hub publishes, read from KEY_DIR (for operators; no server needed)."""
    from hub.issuance.keys import DocumentKeyRing
    from hub.issuance.service import IssuanceConfig, _Signing, ca_jwk
    from hub.settings import Settings

    settings = Settings()
    key_dir = settings.effective_key_dir
    ring = DocumentKeyRing.load_or_create(key_dir / "issuance" / "cose")
    signing = _Signing(IssuanceConfig(settings.public_url, settings.public_url, key_dir))
    return {"keys": [*ring.jwks(), ca_jwk(signing.pki.ca)]}


def load_jwks(source: str | None) -> dict[str, Any]:
    if source is None:
        return _local_jwks()
    if source.startswith(("http://", "https://")):
        import httpx

        response = httpx.get(source, timeout=10, follow_redirects=True)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data
    loaded: dict[str, Any] = json.loads(Path(source).read_text(encoding="utf-8"))
    return loaded


def _print_qr(result: qr.QrVerification) -> None:
    colour = {"valid": "green", "expired": "yellow"}.get(result.status, "red")
    console.print(f"QR payload: [bold {colour}]{result.status}[/] ({result.reason})")
    if result.claims is not None and result.status != "invalid":
        claims = result.claims
        console.print(
            f"  issuance number: {claims.number[:4]}-{claims.number[4:8]}-{claims.number[8:12]}-"
            f"{claims.number[12:]}"
        )
        console.print(f"  document:        {claims.document_type} / {claims.view} (holder {claims.holder})")
        console.print(f"  issued at:       {datetime.fromtimestamp(claims.issued_at, UTC).isoformat()}")
        for name, value in (claims.fields or {}).items():
            console.print(f"  {name}: {value}")


def _print_pdf(result: PdfVerification) -> None:
    colour = {"valid": "green", "expired": "yellow"}.get(result.status, "red")
    console.print(f"PDF: [bold {colour}]{result.status}[/] ({result.reason})")
    console.print(f"  sha256:    {result.sha256}")
    if result.signer:
        console.print(f"  signer:    {result.signer}")
    if result.timestamp:
        console.print(f"  timestamp: {result.timestamp.isoformat()}")
    if result.qr is not None:
        _print_qr(result.qr)


@doc_app.command("verify")
def doc_verify(
    target: Annotated[
        str,
        typer.Argument(
            help="a signed PDF file, a file holding a GY1: payload, the payload "
            "itself, or - for standard input"
        ),
    ],
    keys: Annotated[
        str | None,
        typer.Option(help="JWKS file or URL (default: this hub's KEY_DIR)", metavar="FILE|URL"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Verify an e-document offline against the published keys. Exit 0 valid, 1 invalid, 3 expired."""
    try:
        anchors = TrustAnchors.from_jwks(load_jwks(keys))
    except Exception as exc:
        console.print(f"[red]cannot load the keys:[/] {type(exc).__name__}: {exc}")
        raise typer.Exit(2) from None
    now = datetime.now(UTC)
    data: bytes
    if target == "-":
        data = sys.stdin.buffer.read()
    elif not target.startswith(qr.PREFIX) and Path(target).is_file():
        data = Path(target).read_bytes()
    else:
        data = target.encode()
    if data.startswith(b"%PDF"):
        pdf_result = verify_pdf(data, anchors, now)
        if as_json:
            typer.echo(json.dumps(pdf_result.as_json(), ensure_ascii=False))
        else:
            _print_pdf(pdf_result)
        raise typer.Exit(EXIT[pdf_result.status])
    qr_result = qr.verify(data.decode("utf-8", "replace").strip(), anchors.documents, now)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "status": qr_result.status,
                    "reason": qr_result.reason,
                    "claims": qr_result.claims.as_json()
                    if qr_result.claims and qr_result.status != "invalid"
                    else None,
                },
                ensure_ascii=False,
            )
        )
    else:
        _print_qr(qr_result)
    raise typer.Exit(EXIT[qr_result.status])


@keys_app.command("init")
def keys_init() -> None:
    """Create every key into GONGYU_KEY_DIR (0700 directory, 0600 files); an existing key is never replaced.

    Production hubs do not create keys on start-up; this is how they are provisioned: the token and log
    signing keys, the data key, the audit pepper (``GONGYU_AUDIT_PEPPER_FILE``, default inside the key
    directory), the first document-signing key and the issuance CA with its signer and time-stamping keys.
    """
    from hub.issuance.keys import DocumentKeyRing
    from hub.issuance.pki import load_or_create_pki
    from hub.keys import KeyMaterialError, check_production_keys, init_keys, restrict_permissions
    from hub.settings import Settings

    settings = Settings()
    if settings.is_production and settings.key_dir is None:
        console.print("[red]error:[/] set GONGYU_KEY_DIR: in production the keys live outside ./var")
        raise typer.Exit(2)
    key_dir = settings.effective_key_dir
    try:
        files = init_keys(key_dir, settings.effective_pepper_file)
        manifest = key_dir / "issuance" / "cose" / DocumentKeyRing.MANIFEST
        ca = key_dir / "issuance" / "ca.key.pem"
        had = {manifest: manifest.exists(), ca: ca.exists()}
        DocumentKeyRing.load_or_create(key_dir / "issuance" / "cose")
        load_or_create_pki(key_dir / "issuance")
        restrict_permissions(key_dir)
        if settings.is_production:
            check_production_keys(key_dir, settings.effective_pepper_file, settings.sqlite_database_dir)
    except KeyMaterialError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    for path, what in [*files, *((path, "kept" if there else "created") for path, there in had.items())]:
        console.print(f"{what:8} {path}")
    console.print(f"[green]keys ready[/] in {key_dir} (0700; files 0600)")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Start signing QR payloads with a new key; the old one stays published so its documents verify."""
    from hub.issuance.keys import DocumentKeyRing
    from hub.settings import Settings

    ring = DocumentKeyRing.load_or_create(Settings().effective_key_dir / "issuance" / "cose")
    old = ring.current()
    new = ring.rotate()
    console.print(f"retired {old.kid_text} (still published, verifies documents issued until now)")
    console.print(
        f"signing with [bold]{new.kid_text}[/]; running hub processes pick it up on their next issuance"
    )


@keys_app.command("list")
def keys_list() -> None:
    """The document keys with their validity periods (newest signs)."""
    from hub.issuance.keys import DocumentKeyRing
    from hub.settings import Settings

    ring = DocumentKeyRing.load_or_create(Settings().effective_key_dir / "issuance" / "cose")
    for key in ring.all():
        until = key.exp.isoformat() if key.exp else "current"
        console.print(f"{key.kid_text}  {key.nbf.isoformat()} → {until}")

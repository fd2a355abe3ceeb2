"""``gongyu``: run, migrate, seed and administer the hub from a terminal.

One module per domain (``accounts``: clients and accounts; ``audit``; ``consent``; ``sandbox``; ``serve``:
serve, demo, migrate, catalog; the e-document and key commands stay in ``hub.issuance.cli``), assembled here
into the one ``app`` the ``gongyu`` entry point runs. The commands call the services the hub itself uses
rather than re-implementing their flows.
"""

from __future__ import annotations

import typer

from hub.cli import integrator as _integrator
from hub.cli import serve as _serve
from hub.cli import worker as _worker
from hub.cli.accounts import accounts_app, clients_app
from hub.cli.applications import applications_app
from hub.cli.audit import audit_app
from hub.cli.consent import consent_app
from hub.cli.credentials import credentials_app
from hub.cli.sandbox import sandbox_app
from hub.cli.stats import stats_app
from hub.cli.witness import witness_app
from hub.issuance.cli import doc_app, keys_app

__all__ = ["app"]

app = typer.Typer(help="Gongyu (공유): consent-gated document hub.", no_args_is_help=True)
# Registration order is the order ``gongyu --help`` lists them in.
app.command()(_serve.catalog)
app.command()(_serve.migrate)
app.command()(_serve.demo)
app.command()(_serve.serve)
app.command()(_worker.worker)
app.command()(_integrator.integrator)
app.add_typer(clients_app, name="clients")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(accounts_app, name="accounts")
app.add_typer(consent_app, name="consent")
app.add_typer(doc_app, name="doc")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(applications_app, name="applications")
app.add_typer(stats_app, name="stats")
app.add_typer(credentials_app, name="credentials")
app.add_typer(witness_app, name="witness")

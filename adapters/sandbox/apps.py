"""All sandbox HTTP agencies as one ASGI app, mounted by the hub under ``/sandbox/<agency>``.

The demo serves them from the hub's own process (``hub/app.py``) so a newcomer needs one command; tests and
the embedded default reach the same apps through httpx's ASGI transport, with no port at all.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette
from starlette.routing import Mount

from adapters.sandbox import court, hostile, nhis, nts

HTTP_AGENCIES = {"court": "soap", "nts": "rest", "nhis": "rest"}


def create_app(database_url: Callable[[str], str], *, include_hostile: bool = False) -> Starlette:
    """``database_url(agency)`` gives each agency's own database; the hostile agency is for tests only."""
    routes = [
        Mount("/court", court.create_app(database_url("court"))),
        Mount("/nts", nts.create_app(database_url("nts"))),
        Mount("/nhis", nhis.create_app(database_url("nhis"))),
    ]
    if include_hostile:
        routes.append(Mount("/hostile", hostile.create_app()))
    return Starlette(routes=routes)


def create_root_app(database_url: Callable[[str], str], *, include_hostile: bool = False) -> Starlette:
    """The same apps under ``/sandbox``, for an ASGI transport whose URLs carry the full path."""
    return Starlette(routes=[Mount("/sandbox", create_app(database_url, include_hostile=include_hostile))])

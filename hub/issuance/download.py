"""The signed PDF of an issuance as an HTTP download, shared by the API and the pages.

A neutral module so that neither face imports the other: ``hub.api.issuance`` (clients), the resident's own
e-documents page and the counter page all answer a download the same way.
"""

from __future__ import annotations

from fastapi.responses import Response

from consent import Actor
from hub.issuance import numbers
from hub.issuance.service import IssuanceService


async def pdf_response(service: IssuanceService, actor: Actor, number: str) -> Response:
    """The PDF for the actor that requested the issuance; anyone else gets 404 as if it did not exist."""
    digits, data = await service.pdf_for(actor, number)
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="gongyu-{numbers.display(digits)}.pdf"',
            "Cache-Control": "no-store",  # a personal document: no shared cache keeps a copy
        },
    )

"""The catalog as Markdown, so the README's table is generated from the specs and cannot drift."""

from __future__ import annotations

from collections.abc import Mapping

from document_specs.model import BundleSpec, DocumentSpec


def catalog_markdown(catalog: Mapping[str, DocumentSpec], bundles: Mapping[str, BundleSpec]) -> str:
    lines = [
        "| type | document | holder | adapter | views | statutes (client kinds) | issuable |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in sorted(catalog.values(), key=lambda s: s.type):
        statutes = ", ".join(f"`{b.code}` ({'/'.join(b.client_kinds)})" for b in spec.legal_bases) or "-"
        lines.append(
            f"| `{spec.type}` | {spec.titles['ko']} / {spec.titles['en']} | {spec.holder_titles['en']} "
            f"| {spec.adapter} | {', '.join(v.name for v in spec.views)} | {statutes} "
            f"| {'yes' if spec.issuable else 'no'} |"
        )
    lines += ["", "| bundle | life event | documents |", "|---|---|---|"]
    for bundle in sorted(bundles.values(), key=lambda b: b.id):
        docs = ", ".join(f"`{d.type}`" + (" (optional)" if d.optional else "") for d in bundle.documents)
        lines.append(f"| `{bundle.id}` | {bundle.titles['ko']} / {bundle.titles['en']} | {docs} |")
    return "\n".join(lines) + "\n"

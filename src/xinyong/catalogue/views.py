"""JSON shapes of the catalogue, shared by the CLI and the API."""

from __future__ import annotations

from typing import Any

from xinyong.catalogue.schemas import (
    DISCLOSURES,
    LIST_KINDS,
    POLARITIES,
    Catalogue,
    Field,
    Resource,
)


def field_summary(f: Field) -> dict[str, Any]:
    return {"code": f.code, "label": f.label, "type": f.type, "required": f.required}


def resource_summary(r: Resource) -> dict[str, Any]:
    return {
        "code": r.code,
        "name": r.name,
        "category": r.category,
        "subcategory": r.subcategory,
        "sector": r.sector,
        "subject_kinds": list(r.subject_kinds),
        "polarity": r.polarity,
        "polarity_label": POLARITIES[r.polarity],
        "disclosure": r.disclosure,
        "disclosure_label": DISCLOSURES[r.disclosure],
        "double_publicity": r.double_publicity,
        "list": r.list_kind,
        "list_label": LIST_KINDS.get(r.list_kind or ""),
        "source_departments": list(r.source_departments),
        "legal_basis": list(r.legal_basis),
        "fields": [field_summary(f) for f in r.fields],
    }


def resource_detail(r: Resource) -> dict[str, Any]:
    """Everything the catalogue says about a resource (labels, rules, basis)."""
    summary = resource_summary(r)
    return {**r.dump(), **{k: summary[k] for k in ("polarity_label", "disclosure_label", "list_label")}}


def catalogue_summary(c: Catalogue) -> dict[str, Any]:
    return {"name": c.name, "edition": c.edition, "version": c.version,
            "resources": [resource_summary(r) for r in c]}

"""What the public may see of a record right now: the one rule every public surface uses.

The portal, search, double-publicity lists, exports, public API and reports all filter with
``public_record_clause`` and label with ``record_status_label``; none of them decides
visibility on its own. The workflows (disclosure windows, objections, repair) change the
state this module reads, so a record leaves every public surface at once.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, and_, false, or_

from xinyong.catalogue import load_catalogue
from xinyong.intake.models import Record


def public_resource_codes() -> list[str]:
    return sorted(r.code for r in load_catalogue().resources if r.is_public)


def public_record_clause(today: date | None = None) -> ColumnElement[bool]:
    """SQL condition: the record is of a public resource, in force, and not past its end date."""
    today = today or date.today()
    codes = public_resource_codes()
    if not codes:
        return false()
    return and_(
        Record.resource.in_(codes),
        Record.status == "active",
        or_(Record.valid_until.is_(None), Record.valid_until >= today),
    )


def record_status_label(record: Record) -> str | None:
    """The status a public page shows beside a record (None: nothing special)."""
    if record.status == "withdrawn":
        return "已撤销"
    return None

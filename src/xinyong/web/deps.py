from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy.orm import Session

from xinyong.db.engine import session_scope


def get_session() -> Iterator[Session]:
    """One unit of work per request: committed on success, rolled back on any error."""
    with session_scope() as session:
        yield session

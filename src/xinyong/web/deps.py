from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy.orm import Session

from xinyong.db.engine import get_sessionmaker


def get_session() -> Iterator[Session]:
    """One session per request; routers that write commit through the service's caller."""
    session = get_sessionmaker()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()

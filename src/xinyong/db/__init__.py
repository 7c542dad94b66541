"""Storage: engine, sessions, declarative base and Alembic migrations."""

from xinyong.db.base import Base
from xinyong.db.engine import get_engine, get_sessionmaker, session_scope

__all__ = ["Base", "get_engine", "get_sessionmaker", "session_scope"]

"""Import every feature's models so Base.metadata is complete (Alembic, tests)."""

from xinyong.db.base import Base
from xinyong.departments.models import Department
from xinyong.subjects.models import Subject, SubjectIdentifier, SubjectName

__all__ = ["Base", "Department", "Subject", "SubjectIdentifier", "SubjectName"]

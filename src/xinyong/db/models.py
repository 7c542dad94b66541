"""Import every feature's models so Base.metadata is complete (Alembic, tests)."""

from xinyong.accounts.models import ApiClient, User, UserSession
from xinyong.audit.models import AuditEvent
from xinyong.db.base import Base
from xinyong.departments.models import Department
from xinyong.intake.models import BatchError, IntakeBatch, Record, RecordVersion
from xinyong.subjects.models import Subject, SubjectIdentifier, SubjectName

__all__ = ["ApiClient", "AuditEvent", "Base", "BatchError", "Department", "IntakeBatch", "Record", "RecordVersion",
           "Subject", "SubjectIdentifier", "SubjectName", "User", "UserSession"]

"""Import every feature's models so Base.metadata is complete (Alembic, tests)."""

from xinyong.accounts.models import ApiClient, User, UserSession
from xinyong.audit.models import AuditEvent
from xinyong.db.base import Base
from xinyong.departments.models import Department
from xinyong.intake.models import BatchError, IntakeBatch, Record, RecordVersion
from xinyong.notifications.models import EmailMessage, Notification, NotificationContact
from xinyong.portal.models import Notice, SearchEntry, SearchGram
from xinyong.reports.models import Report
from xinyong.subjects.models import Subject, SubjectIdentifier, SubjectName
from xinyong.workflows.models import (
    Attachment,
    Commitment,
    ListDetermination,
    Objection,
    RepairApplication,
    WorkflowEvent,
)

__all__ = [
    "ApiClient",
    "Attachment",
    "AuditEvent",
    "Base",
    "BatchError",
    "Commitment",
    "Department",
    "EmailMessage",
    "IntakeBatch",
    "ListDetermination",
    "Notice",
    "Notification",
    "NotificationContact",
    "Objection",
    "Record",
    "RecordVersion",
    "RepairApplication",
    "Report",
    "SearchEntry",
    "SearchGram",
    "Subject",
    "SubjectIdentifier",
    "SubjectName",
    "User",
    "UserSession",
    "WorkflowEvent",
]
from xinyong.indicators.models import IndicatorSnapshot, IndicatorValue

__all__ += ["IndicatorSnapshot", "IndicatorValue"]
from xinyong.measures.models import MeasureCheck, MeasureCheckBatch, MeasureCheckItem

__all__ += ["MeasureCheck", "MeasureCheckBatch", "MeasureCheckItem"]
from xinyong.rating.models import (
    InspectionDraw,
    InspectionItem,
    InspectionPopulation,
    RatingDirty,
    RatingFactor,
    RatingHistory,
    RatingItem,
    RatingRun,
    RatingScore,
)

__all__ += ["InspectionDraw", "InspectionItem", "InspectionPopulation", "RatingDirty", "RatingFactor",
            "RatingHistory", "RatingItem", "RatingRun", "RatingScore"]
from xinyong.exchange.models import Delivery, ExchangeChange, ExchangePending, ImportedPackage, Peer, Subscription

__all__ += ["Delivery", "ExchangeChange", "ExchangePending", "ImportedPackage", "Peer", "Subscription"]

"""Subject self-service (/me/...): my complete credit file and who looked at it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from xinyong.accounts.access import current_actor
from xinyong.audit.service import access_history, record_event
from xinyong.errors import NotFound
from xinyong.portal import service
from xinyong.portal.templating import page, render
from xinyong.web.deps import get_session

router = APIRouter(prefix="/me", include_in_schema=False)
DbSession = Annotated[Session, Depends(get_session)]


def _own_subject(request: Request) -> int:
    actor = current_actor(request)
    if not actor.is_subject or actor.subject_id is None:
        raise NotFound("您的账户尚未关联已登记的信用主体：主体登记后将自动关联。", code="subject_not_linked")
    return actor.subject_id


@router.get("/file", name="me_file")
@page
def my_file(request: Request, session: DbSession) -> Response:
    """Everything the platform holds about the signed-in subject, public or not."""
    subject_id = _own_subject(request)
    data = service.subject_full_file(session, subject_id)
    # The subject's own reading is audited too (it is not shown in its access history).
    record_event(session, "subject_file.read", actor=current_actor(request), subject_id=subject_id)
    from xinyong.measures.service import checks_about  # joint measures (#7): checks about me
    from xinyong.rating.api import me_rating_context  # rating (#8): the subject's own evaluation

    return render(request, "portal/me_file.html", {"f": data, "checks": checks_about(session, subject_id),
                                                   **me_rating_context(session, request, subject_id)},
                  private=True)


@router.get("/access-history", name="me_access_history")
@page
def my_access_history(request: Request, session: DbSession, page: int = 1) -> Response:
    subject_id = _own_subject(request)
    names = {r.code: r.name for r in service.catalogue()}
    result = access_history(session, subject_id, page=max(1, page), size=20, resource_names=names)
    result["pages"] = max(1, -(-result["total"] // result["size"]))
    return render(request, "portal/me_history.html", {"h": result}, private=True)

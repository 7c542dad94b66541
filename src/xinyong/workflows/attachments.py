"""Attachments to workflow cases: size and type limited, stored content-addressed under the
var dir (``workflows/attachments/ab/abcdef…``), type detected from the bytes, never from the
upload's name or declared type, and always served as a download."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyong.config import get_settings
from xinyong.errors import InvalidInput, NotFound

from .models import Attachment
from .policy import load_policy

_MAGIC = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
)
TYPE_LABELS = {"application/pdf": "PDF", "image/png": "PNG 图片", "image/jpeg": "JPEG 图片"}
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def sniff(content: bytes) -> tuple[str, str] | None:
    for magic, media, ext in _MAGIC:
        if content.startswith(magic):
            return media, ext
    return None


def safe_name(name: str | None, ext: str) -> str:
    base = unicodedata.normalize("NFKC", os.path.basename((name or "").replace("\\", "/")))
    base = _UNSAFE.sub("_", base).strip(" ._")[:100] or "附件"
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return f"{stem}{ext}"


def storage_dir() -> Path:
    return get_settings().var_dir / "workflows" / "attachments"


def blob_path(sha256: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError("bad digest")
    return storage_dir() / sha256[:2] / sha256


def check_upload(content: bytes, existing: int = 0) -> tuple[str, str]:
    """Refuse what the policy does not allow, saying why; returns (media type, extension)."""
    policy = load_policy().attachments
    limit = get_settings().attachment_max_bytes
    if existing >= policy.max_files:
        raise InvalidInput(f"每个事项最多上传 {policy.max_files} 个附件。", code="too_many_attachments")
    if not content:
        raise InvalidInput("附件是空文件，请重新选择。", code="empty_attachment")
    if len(content) > limit:
        raise InvalidInput(f"附件过大（{len(content) / 1048576:.1f} MB），单个附件不超过 {limit / 1048576:.0f} MB。",
                           code="attachment_too_large")
    kind = sniff(content)
    if kind is None or kind[0] not in policy.media_types:
        allowed = "、".join(TYPE_LABELS.get(t, t) for t in policy.media_types)
        raise InvalidInput(f"附件类型不支持：只接受 {allowed} 文件（按文件内容识别）。请转换格式后上传。",
                           code="attachment_type")
    return kind


def save_attachment(session: Session, workflow: str, case_id: int, file_name: str | None, content: bytes, *,
                    uploaded_by: str | None = None) -> Attachment:
    count = session.scalar(select(func.count()).select_from(Attachment).where(
        Attachment.workflow == workflow, Attachment.case_id == case_id)) or 0
    media, ext = check_upload(content, count)
    digest = hashlib.sha256(content).hexdigest()
    path = blob_path(digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a crash never leaves a half file under its final name.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.replace(tmp, path)
        os.chmod(path, 0o640)
    att = Attachment(workflow=workflow, case_id=case_id, sha256=digest, size=len(content), media_type=media,
                     file_name=safe_name(file_name, ext), uploaded_by=(uploaded_by or "")[:200] or None)
    session.add(att)
    session.flush()
    return att


def list_attachments(session: Session, workflow: str, case_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(Attachment).where(Attachment.workflow == workflow, Attachment.case_id == case_id)
                           .order_by(Attachment.id)).all()
    return [attachment_to_dict(a) for a in rows]


def attachment_to_dict(a: Attachment) -> dict[str, Any]:
    return {"id": a.id, "file_name": a.file_name, "size": a.size, "media_type": a.media_type,
            "url": f"/api/v1/attachments/{a.id}"}


def get_attachment(session: Session, attachment_id: int) -> tuple[Attachment, Path]:
    a = session.get(Attachment, attachment_id)
    if a is None:
        raise NotFound("未找到该附件。", code="attachment_not_found")
    path = blob_path(a.sha256)
    if not path.exists():
        raise NotFound("附件文件已不存在，请联系平台管理员。", code="attachment_missing")
    return a, path

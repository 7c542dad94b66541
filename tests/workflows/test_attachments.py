"""Attachments: type from content, size and count limits, content-addressed storage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyong.config import reset_settings
from xinyong.db.engine import session_scope
from xinyong.errors import InvalidInput
from xinyong.workflows.attachments import (
    blob_path,
    check_upload,
    safe_name,
    save_attachment,
    sniff,
)

PDF = b"%PDF-1.7\n1 0 obj\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def test_type_is_recognised_from_content_not_name():
    assert sniff(PDF) == ("application/pdf", ".pdf")
    assert sniff(PNG)[0] == "image/png" and sniff(b"\xff\xd8\xff\xe0jfif")[0] == "image/jpeg"
    for bad in (b"<html><script>alert(1)</script>", b"MZ\x90\x00", b"PK\x03\x04"):
        with pytest.raises(InvalidInput) as err:
            check_upload(bad)
        assert "只接受" in err.value.message


def test_size_and_count_limits(settings_env, monkeypatch):
    monkeypatch.setenv("XINYONG_ATTACHMENT_MAX_BYTES", "100")
    reset_settings()
    with pytest.raises(InvalidInput) as err:
        check_upload(PDF + b"0" * 200)
    assert "附件过大" in err.value.message
    with pytest.raises(InvalidInput):
        check_upload(b"")
    with pytest.raises(InvalidInput) as err:
        check_upload(PDF, existing=5)
    assert "最多上传 5 个" in err.value.message
    reset_settings()


def test_names_are_made_safe_and_extension_follows_content():
    assert safe_name("../../etc/passwd", ".pdf") == "passwd.pdf"
    assert safe_name("C:\\Users\\x\\证明.exe", ".png") == "证明.png"
    assert safe_name("\x00\x1f", ".jpg") == "附件.jpg"


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=300))
def test_safe_name_never_escapes(name):
    out = safe_name(name, ".pdf")
    assert out.endswith(".pdf") and "/" not in out and "\\" not in out and not any(ord(c) < 32 for c in out)
    assert len(out) <= 104


def test_same_content_is_stored_once(db_url):
    with session_scope(db_url) as s:
        a = save_attachment(s, "objection", 1, "a.pdf", PDF)
        b = save_attachment(s, "objection", 2, "b.pdf", PDF)
        assert a.sha256 == b.sha256 and blob_path(a.sha256).read_bytes() == PDF
        assert (blob_path(a.sha256).stat().st_mode & 0o777) == 0o640

"""The PDF: readable Chinese with the embedded font, and verification of PDF and JSON files."""

from __future__ import annotations

import json
import subprocess

from xinyong.reports.keys import KeyStore, published_keyset
from xinyong.reports.verify import verify_bytes

from .conftest import COMPANY, issue, requires_poppler

pytestmark = requires_poppler


def pdf_text(data: bytes, tmp_path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, timeout=60)
    return out.stdout.decode("utf-8")


def test_pdf_text_fonts_and_first_page(city, tmp_path):
    rep = issue(city, city.uscc)
    data = rep.render("pdf")
    text = pdf_text(data, tmp_path)
    flat = "".join(text.split())
    assert COMPANY in flat and rep.number in flat and city.uscc in flat
    for number in city.public_decisions:
        assert number in flat
    assert city.withdrawn_decision not in flat and city.private_document not in flat
    assert "公共信用信息报告" in flat and "信用修复" in flat and "数据截止时间" in flat
    assert rep.signature.hash in flat
    fonts = subprocess.run(["pdffonts", str(tmp_path / "report.pdf")], capture_output=True, check=True,
                           timeout=60).stdout.decode()
    embedded = [line for line in fonts.splitlines()[2:] if line.strip()]
    assert embedded and all(" yes yes yes " in line for line in embedded), fonts  # embedded, subset, unicode
    subprocess.run(["pdftoppm", "-r", "70", "-f", "1", "-l", "1", "-png", str(tmp_path / "report.pdf"),
                    str(tmp_path / "page")], check=True, timeout=60)
    png = next(tmp_path.glob("page*.png"))
    assert png.stat().st_size > 20_000  # a page with text and a QR code, kept in tmp for a look


def test_untouched_files_are_authentic(city):
    rep = issue(city, city.uscc, "full")
    keys = published_keyset()
    for fmt in ("pdf", "json"):
        result = verify_bytes(rep.render(fmt), keys)
        assert result.ok, result
        assert (result.number, result.subject, result.content_hash) == (rep.number, COMPANY, rep.signature.hash)


def test_any_changed_byte_of_the_pdf_is_detected(city):
    data = issue(city, city.uscc).render("pdf")
    keys = published_keyset()
    seal_at = data.index(b"xinyong-seal:")
    for pos in (len(data) // 3, len(data) // 2, len(data) - 10, 20, seal_at + 40):
        changed = bytearray(data)
        changed[pos] = (changed[pos] + 1) % 256 if changed[pos] not in (ord("0"), ord("f")) else ord("1")
        result = verify_bytes(bytes(changed), keys)
        assert not result.ok, pos
        assert result.reason in ("file_modified", "no_seal"), result
        assert "修改" in result.message or "签章" in result.message
    appended = verify_bytes(data + b"\n% appended\n", keys)
    assert (appended.ok, appended.reason) == (False, "file_modified")


def test_edited_json_is_detected(city):
    rep = issue(city, city.uscc)
    envelope = json.loads(rep.render("json"))
    keys = published_keyset()
    # Formatting is not content: the canonical form is what is signed.
    assert verify_bytes(json.dumps(envelope, ensure_ascii=False).encode(), keys).ok
    envelope["report"]["summary"]["negative"] = 0
    result = verify_bytes(json.dumps(envelope, ensure_ascii=False).encode(), keys)
    assert (result.ok, result.reason) == (False, "content_modified")
    assert "被修改" in result.message


def test_signature_from_another_key_is_rejected(city, tmp_path):
    from xinyong.reports.signing import envelope_bytes, sign_content

    rep = issue(city, city.uscc)
    keys = published_keyset()
    other = KeyStore(tmp_path / "forger")
    kid, private = other.signing_key()
    forged = sign_content(rep.content, kid, private)
    result = verify_bytes(envelope_bytes(rep.content, forged), keys)
    assert (result.ok, result.reason) == (False, "unknown_key") and kid in result.message
    # Claiming the platform's key id does not help.
    from xinyong.reports.signing import Signature

    claimed = Signature(rep.signature.kid, forged.hash, forged.value)
    result = verify_bytes(envelope_bytes(rep.content, claimed), keys)
    assert (result.ok, result.reason) == (False, "bad_signature")
    # A PDF sealed by another key.
    from xinyong.reports.pdf import render_pdf

    pdf = render_pdf(rep.content, rep.signature, rep.render("json"), kid=kid, private=private)
    result = verify_bytes(pdf, keys)
    assert (result.ok, result.reason) == (False, "unknown_key")


def test_key_rotation_keeps_old_reports_verifiable(city):
    from xinyong.db.engine import get_engine, session_scope
    from xinyong.intake.service import ingest_rows
    from xinyong.reports.keys import get_keystore
    from xinyong.reports.service import report_status

    from .conftest import penalty

    old = issue(city, city.uscc)
    old_pdf, old_json = old.render("pdf"), old.render("json")
    new_kid = get_keystore().rotate()
    assert new_kid != old.signature.kid
    ingest_rows(get_engine(city.url), [penalty(55, uscc=city.uscc)], "admin_penalty", "market_regulation")
    new = issue(city, city.uscc)
    assert new.signature.kid == new_kid
    keys = published_keyset()
    assert len(keys) == 2 and keys.get(old.signature.kid).retired
    for data in (old_pdf, old_json, new.render("pdf"), new.render("json"), old.render("pdf")):
        assert verify_bytes(data, keys).ok
    with session_scope(city.url) as s:
        assert report_status(s, old.number)["authentic"]


def test_report_without_records(db_url, tmp_path):
    import random
    from datetime import date

    from xinyong.db.engine import session_scope
    from xinyong.identity.codes import generate_uscc
    from xinyong.subjects.service import SubjectIn, upsert_subjects

    from .conftest import City

    uscc = generate_uscc(random.Random(77))
    with session_scope(db_url) as s:
        upsert_subjects(s, [SubjectIn(kind="legal_entity", name="佛山市清白贸易有限公司", uscc=uscc, region="440604",
                                      legal_rep="王五", reg_status="存续", established=date(2015, 3, 2),
                                      address="佛山市禅城区季华五路1号")])
    rep = issue(City(db_url, uscc, "", "", [], "", ""), uscc)
    assert rep.content["summary"]["total"] == 0 and rep.content["sections"] == []
    data = rep.render("pdf")
    assert verify_bytes(data, published_keyset()).ok
    flat = "".join(pdf_text(data, tmp_path).split())
    assert "佛山市清白贸易有限公司" in flat and "未查询到本报告范围内的信用信息" in flat and "王五" in flat


def test_long_report_breaks_pages(db_url, tmp_path):
    from .conftest import build_city

    city = build_city(db_url, n_penalties=40)
    rep = issue(city, city.uscc)
    data = rep.render("pdf")
    assert verify_bytes(data, published_keyset()).ok
    text = pdf_text(data, tmp_path)
    assert text.count("\f") >= 5  # several pages
    flat = "".join(text.split())
    assert all(d in flat for d in city.public_decisions)


def test_font_fallback_when_fpdf2_internals_change(city, tmp_path, monkeypatch):
    import xinyong.reports.pdf as pdf_module

    def broken(*_a, **_k):
        raise AttributeError("fpdf2 changed")

    monkeypatch.setattr(pdf_module, "_clone_font", broken)
    rep = issue(city, city.uscc)
    data = rep.render("pdf", cached=False)
    assert verify_bytes(data, published_keyset()).ok
    assert COMPANY in "".join(pdf_text(data, tmp_path).split())


def test_own_report_pdf_and_html_show_the_rating_explanation(city, tmp_path):
    from xinyong.db.engine import session_scope
    from xinyong.rating.service import run_scoring

    with session_scope(city.url) as s:
        run_scoring(s, full=True)
    rep = issue(city, city.uscc, "full")
    rating = rep.content["rating"]
    for rendered in ("".join(pdf_text(rep.render("pdf"), tmp_path).split()),
                     "".join(rep.render("html").decode("utf-8").split())):
        assert "公共信用综合评价" in rendered and f"{rating['grade']}（{rating['grade_label']}）" in rendered
        for f in rating["factors"]:
            assert f["name"] in rendered

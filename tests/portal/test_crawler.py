"""Crawl every public page and API answer of the demo city (SQLite and PostgreSQL): no citizen ID
or mobile number in clear, and no record the publication rule does not allow."""

from __future__ import annotations

import io
import json
import re
from collections import deque
from html import unescape

from pypdf import PdfReader
from sqlalchemy import select

from tests.portal.conftest import AS_OF
from xinyong.db.engine import session_scope
from xinyong.identity.codes import check_citizen_id
from xinyong.identity.crypto import get_keyring
from xinyong.intake.models import Record
from xinyong.portal.search import subject_key
from xinyong.publication import public_record_clause
from xinyong.subjects.models import Subject

HREF = re.compile(r'href="(/[^"#]*)"')
RECORD_ID = re.compile(r'data-record-id="(\d+)"')
ID_SHAPE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
SKIP = ("/login", "/logout", "/console", "/me", "/docs", "/redoc", "/openapi", "/api/v1/intake", "/static",
        "/objections", "/repairs", "/commitments", "/determinations", "/indicators", "/statistics")
MAX_PAGES = 4000
MAX_PDFS = 25


def _secrets(city) -> tuple[set[str], set[int], set[int], set[str]]:
    """Every citizen ID and phone number the city holds (decrypted), the records the public may
    see, all records, and the USCCs (18-character codes that may look like IDs)."""
    keyring = get_keyring()
    secrets: set[str] = set()
    with session_scope(city.url) as s:
        for enc in s.scalars(select(Subject.citizen_id_enc).where(Subject.citizen_id_enc.is_not(None))):
            secrets.add(keyring.decrypt(enc))
        for enc in s.scalars(select(Record.personal_enc).where(Record.personal_enc.is_not(None))):
            for value in json.loads(keyring.decrypt(enc)).values():
                if isinstance(value, str) and re.fullmatch(r"[\dXx]{15,18}|1[3-9]\d{9}", value):
                    secrets.add(value)
        visible = set(s.scalars(select(Record.id).where(public_record_clause(AS_OF))))
        everything = set(s.scalars(select(Record.id)))
        usccs = set(s.scalars(select(Subject.uscc).where(Subject.uscc.is_not(None))))
        from xinyong.departments.models import Department

        usccs |= set(s.scalars(select(Department.uscc)))
        persons = [f"/subjects/s-{sid}" for sid in s.scalars(select(Subject.id).where(Subject.kind == "natural_person"))]
    return secrets, visible, everything, usccs | set(persons)


def _check_text(url: str, text: str, secrets: set[str], usccs: set[str], problems: list[str]) -> None:
    for secret in secrets:
        if secret in text:
            problems.append(f"{url}: personal number in clear ({secret[:4]}…)")
    for m in ID_SHAPE.finditer(text):
        value = m.group(0).upper()
        if value not in usccs and check_citizen_id(value).valid:
            problems.append(f"{url}: citizen-ID-shaped value {value[:4]}…")
    for m in MOBILE.finditer(text):
        problems.append(f"{url}: mobile number {m.group(0)[:3]}…")


def test_crawl_public_site(web, city):
    secrets, visible, everything, extra = _secrets(city)
    persons = {u for u in extra if u.startswith("/subjects/s-")}
    usccs = extra - persons
    assert secrets and visible and everything - visible, "the city must hold personal data and non-public records"
    queue = deque(["/", "/search", "/publicity/licenses", "/publicity/penalties", "/lists", "/notices", *sorted(persons)])
    with session_scope(city.url) as s:
        for name in s.scalars(select(Subject.name).where(Subject.kind != "natural_person").order_by(Subject.id)
                              .limit(40)):
            queue.append(f"/search?q={name[-6:-2]}")
        for subject in s.scalars(select(Subject).where(Subject.kind != "natural_person")):
            queue.append(f"/subjects/{subject_key(subject)}")
    seen: set[str] = set()
    shown: set[int] = set()
    problems: list[str] = []
    n = pdfs_checked = 0
    while queue and n < MAX_PAGES:
        url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        r = web.get(url)
        n += 1
        if url.startswith("/subjects/s-") and r.status_code == 404:
            continue  # a person with nothing public: not disclosed
        assert r.status_code == 200, f"{url}: {r.status_code}"
        text = unescape(r.text)
        _check_text(url, text, secrets, usccs, problems)
        shown.update(int(i) for i in RECORD_ID.findall(r.text))
        for link in HREF.findall(r.text):
            link = unescape(link)
            if link.startswith(SKIP) or link in seen:
                continue
            if link.split("?")[0].endswith(".pdf"):
                # The public credit report (linked from each profile): its text must not hold any of
                # the city's personal numbers. Only exact values are checked (the report prints
                # random report numbers and signatures whose digit runs can look like a phone
                # number), and only for the first reports: each one is rendered and signed.
                seen.add(link)
                if pdfs_checked < MAX_PDFS:
                    pdf = web.get(link)
                    assert pdf.status_code == 200, link
                    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
                    problems.extend(f"{link}: personal number in clear ({v[:4]}…)" for v in secrets if v in text)
                    pdfs_checked += 1
                continue
            if "/export." in link:
                exp = web.get(link)
                assert exp.status_code == 200, link
                _check_text(link, exp.content.decode("utf-8-sig", "replace") if link.split("?")[0].endswith(".csv")
                            else "", secrets, usccs, problems)
                seen.add(link)
                continue
            queue.append(link)
    # The same checks on the JSON API answers.
    for q in ("有限", "佛山", "陶瓷", "fs", "店", "张伟", "李"):
        r = web.get("/api/v1/search", params={"q": q})
        if r.status_code == 200:
            _check_text(f"/api/v1/search?q={q}", r.text, secrets, usccs, problems)
            for item in r.json()["items"]:
                page = web.get(item["url"])
                assert page.status_code == 200, item["url"]
    assert not problems, "\n".join(sorted(set(problems))[:30])
    outside = shown - visible
    assert not outside, f"records outside their disclosure class or window shown: {sorted(outside)[:20]}"
    # Every public record is reachable from some public page (the crawl is not vacuous).
    print("crawl", n, len(shown), len(visible), len(everything), len(secrets))
    assert n > 300 and len(shown) > 0.9 * len(visible), (n, len(shown), len(visible))

"""The PDF form of a report: typeset Chinese, an embedded CJK font, a QR code, and a seal.

How a PDF proves itself (offline, with only the platform's published public keys):

1. **Content signature.** The report's canonical JSON (``signing.py``) is hashed and signed.
   The signed JSON envelope (content + signature) is embedded in the PDF as the attachment
   ``<number>.json``; the number, hash, key id and signature are also printed on the last page,
   and the QR code links to ``/verify/<number>`` for the online check.
2. **File seal.** The visible pages could be edited while leaving the attachment intact, so the
   whole file is signed too. The document's ``/Keywords`` entry holds a fixed-length slot
   ``xinyong-seal:<kid>:<128 hex digits>``. The PDF is written with the slot all zeros, then
   ``sig = Ed25519(b"xinyong-report-pdf-v1:" + kid + b":" + SHA-256(file bytes with the zero
   slot))`` is written into the slot — same length, so no offset or cross-reference moves.
   A verifier finds the only slot, puts the zeros back, and checks the signature: a change to
   any byte outside the slot changes the hash, a change inside it breaks the signature, and
   re-saving the file with another program drops or moves the slot. Appended incremental
   updates change the bytes too. This is the byte-range idea of PDF signatures (ISO 32000
   ``/ByteRange``) without CMS, so that verification needs nothing but Ed25519.

The verifier then reads the attachment and checks its content signature, so a verified PDF
also yields the exact report data it shows.

Fonts: the platform embeds a subset of WenQuanYi Micro Hei (Debian ``fonts-wqy-microhei``, a
TrueType face), falling back to Noto Sans CJK SC (``fonts-noto-cjk``), or ``XINYONG_REPORT_FONT``.
The TrueType face is the default because subsetting CFF outlines (Noto) costs about 150 ms more
per PDF (fontTools executes every used charstring), which breaks the 300 ms budget. The face is
prepared once per process (extracted from the collection; layout, vertical and duplicate cmap
tables dropped: large, and a report needs none of them) and cloned into each document, so only
the subsetting of the glyphs a report uses is paid per PDF. Headings use a stroked fill ("faux
bold") of the same face: a second embedded face would double the subsetting time.
"""

from __future__ import annotations

import copy
import hashlib
import io
import logging
import re
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fontTools import ttLib
from fpdf import FPDF
from fpdf.enums import TextMode, XPos, YPos

from xinyong.config import get_settings
from xinyong.errors import ConfigurationError
from xinyong.reports.signing import Signature

log = logging.getLogger("xinyong.reports.pdf")

SEAL_PREFIX = b"xinyong-seal:"
SEAL_RE = re.compile(rb"xinyong-seal:([0-9a-f]{16}):([0-9a-f]{128})")
SEAL_MESSAGE_PREFIX = b"xinyong-report-pdf-v1:"
EMPTY_SIG = "0" * 128
EMPTY_KID = "0" * 16

#: (path, preferred family in a collection). First one present wins.
FONT_CANDIDATES: tuple[tuple[str, str | None], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "WenQuanYi Micro Hei"),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "Noto Sans CJK SC"),
    ("/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf", None),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", None),
)
_DROP_TABLES = ("GSUB", "GPOS", "GDEF", "BASE", "JSTF", "VORG", "vhea", "vmtx", "DSIG", "meta", "kern",
                "hdmx", "VDMX", "LTSH", "gasp")

# Page geometry (mm) and type sizes (pt).
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 18.0, 20.0, 18.0
BODY, SMALL, LH = 9.5, 8.0, 5.2
LABEL_W = 36.0
RED = (185, 28, 28)
INK = (31, 41, 51)
GRAY = (96, 108, 118)
RULE = (203, 210, 217)
FILL = (243, 244, 246)
CN_NUM = "一二三四五六七八九十"
NBSP = "\u00a0"


def _cjk(text: str) -> str:
    """Chinese lines may break between any two characters: make spaces non-breaking so the
    line breaker fills each line (instead of breaking at the last space and leaving a gap)."""
    return text.replace(" ", NBSP)


# -- fonts ----------------------------------------------------------------------------------------


@dataclass
class _PreparedFont:
    source: str
    data: bytes
    template: Any  # fpdf.fonts.TTFFont built once, cloned per document


_font_lock = threading.Lock()
_fonts: dict[str, _PreparedFont] = {}


def find_font() -> tuple[Path, int]:
    """The CJK font file and the face index in it."""
    configured = get_settings().report_font
    candidates = [(str(configured), None)] if configured else list(FONT_CANDIDATES)
    for path, family in candidates:
        p = Path(path)
        if not p.is_file():
            continue
        index = 0
        if p.suffix.lower() in (".ttc", ".otc"):
            faces = ttLib.TTCollection(str(p), lazy=True).fonts
            names = [f["name"].getDebugName(1) for f in faces]
            if family in names:
                index = names.index(family)
            else:
                index = next((i for i, n in enumerate(names) if n and n.endswith(" SC")), 0)
        return p, index
    if configured:
        raise ConfigurationError(f"XINYONG_REPORT_FONT 指定的字体文件 {configured} 不存在。")
    raise ConfigurationError("未找到中文字体，无法生成 PDF 报告：请安装 Debian 软件包 fonts-wqy-microhei"
                             "（apt-get install fonts-wqy-microhei，make test 会自动安装）或 fonts-noto-cjk，"
                             "或用 XINYONG_REPORT_FONT 指定一个 TTF/OTF/TTC 中文字体文件。")


def _prepare_font() -> _PreparedFont:
    path, index = find_font()
    key = f"{path}#{index}"
    with _font_lock:
        cached = _fonts.get(key)
        if cached is not None:
            return cached
        # No recalculation on save: it would decompile and re-measure all 65,535 glyphs (minutes).
        font = ttLib.TTFont(str(path), fontNumber=index, recalcTimestamp=False, recalcBBoxes=False)
        for tag in _DROP_TABLES:
            if tag in font:
                del font[tag]
        # One Unicode cmap subtable is enough (the subsetter parses every one of them per PDF).
        cmap = font["cmap"]
        for wanted in ((3, 10), (3, 1)):
            keep = [t for t in cmap.tables if (t.platformID, t.platEncID) == wanted]
            if keep:
                cmap.tables = keep
                break
        buf = io.BytesIO()
        font.save(buf)
        data = buf.getvalue()
        from fpdf.fonts import TTFFont

        template = TTFFont(FPDF(), io.BytesIO(data), "cjk", "")
        cached = _fonts[key] = _PreparedFont(key, data, template)
        log.info("prepared report font %s (%d bytes)", key, len(data))
        return cached


def _install_font(pdf: FPDF) -> None:
    """Give ``pdf`` the CJK face as family "cjk" without parsing the font again."""
    prepared = _prepare_font()
    try:
        _clone_font(pdf, prepared)
    except (AttributeError, TypeError, ImportError):
        # fpdf2's font internals changed: the public (slower) way, from a file of the prepared face.
        log.warning("fpdf2 font cloning unavailable; adding the report font from a file")
        path = Path(tempfile.gettempdir()) / f"xinyong-report-font-{hashlib.sha256(prepared.data).hexdigest()[:12]}.otf"
        if not path.exists():
            path.write_bytes(prepared.data)
        pdf.fonts.pop("cjk", None)
        pdf.add_font("cjk", "", str(path))


def _clone_font(pdf: FPDF, prepared: _PreparedFont) -> None:
    from fpdf.fonts import SubsetMap

    font = copy.copy(prepared.template)
    font.i = len(pdf.fonts) + 1
    font.fontkey = "cjk"
    # No bounding-box recalculation on save: it draws every glyph and is half the cost of a PDF.
    font.ttfont = ttLib.TTFont(io.BytesIO(prepared.data), recalcTimestamp=False, recalcBBoxes=False, lazy=True)
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font._hbfont = None
    font.subset = SubsetMap(font)
    pdf.fonts["cjk"] = font
    if font.is_cff and font.is_cid_keyed:
        pdf._set_min_pdf_version("1.6")


# -- layout ---------------------------------------------------------------------------------------


def china_time(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        t = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return f"{t.year}年{t.month}月{t.day}日 {t.hour:02d}:{t.minute:02d}"


def china_date(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        d = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return f"{d.year}年{d.month}月{d.day}日"


def report_title(content: dict[str, Any]) -> str:
    scenario = content.get("scenario")
    if scenario:
        return f"{content['kind_label']}（{scenario['name']}）"
    return content["kind_label"]


class _ReportPDF(FPDF):
    def __init__(self, content: dict[str, Any]) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.content = content
        self.set_margins(MARGIN_X, MARGIN_TOP, MARGIN_X)
        self.set_auto_page_break(True, margin=MARGIN_BOTTOM)
        self.c_margin = 1.0

    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.set_font("cjk", size=SMALL)
        self.set_text_color(*GRAY)
        self.set_xy(MARGIN_X, 10)
        self.cell(0, 5, f"{self.content['issuer']['platform']} · {report_title(self.content)}")
        self.set_xy(MARGIN_X, 10)
        self.cell(0, 5, f"报告编号：{self.content['number']}", align="R")
        self.set_draw_color(*RULE)
        self.line(MARGIN_X, 15.5, self.w - MARGIN_X, 15.5)
        self.set_y(MARGIN_TOP)
        self.set_text_color(*INK)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("cjk", size=SMALL - 0.5)
        self.set_text_color(*GRAY)
        self.cell(0, 5, f"核验：{self.content['verify_url']}")
        self.set_x(MARGIN_X)
        self.cell(0, 5, f"第 {self.page_no()} 页 / 共 {{nb}} 页", align="R")
        self.set_text_color(*INK)

    # -- building blocks --

    def bold(self, on: bool = True) -> None:
        self.text_mode = TextMode.FILL_STROKE if on else TextMode.FILL
        self.set_line_width(0.18 if on else 0.2)

    def heading(self, text: str, size: float = 12.5) -> None:
        if self.get_y() > self.page_break_trigger - 25:
            self.add_page()
        self.ln(3)
        self.set_font("cjk", size=size)
        self.set_text_color(*RED)
        self.set_draw_color(*RED)
        self.bold()
        self.cell(0, 8, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.bold(False)
        self.set_draw_color(*RULE)
        self.line(MARGIN_X, self.get_y(), self.w - MARGIN_X, self.get_y())
        self.ln(2)
        self.set_text_color(*INK)
        self.set_font("cjk", size=BODY)

    def subheading(self, text: str) -> None:
        if self.get_y() > self.page_break_trigger - 18:
            self.add_page()
        self.ln(1.5)
        self.set_font("cjk", size=10.5)
        self.set_draw_color(*INK)
        self.bold()
        self.cell(0, 6.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.bold(False)
        self.set_font("cjk", size=BODY)

    def paragraph(self, text: str, size: float = BODY, color: tuple[int, int, int] = INK, indent: float = 0) -> None:
        self.set_font("cjk", size=size)
        self.set_text_color(*color)
        self.set_x(MARGIN_X + indent)
        self.multi_cell(self.w - 2 * MARGIN_X - indent, LH, _cjk(text), align="L", new_x=XPos.LMARGIN,
                        new_y=YPos.NEXT)
        self.set_text_color(*INK)

    def kv(self, label: str, value: str, *, label_w: float = LABEL_W, width: float | None = None,
           value_color: tuple[int, int, int] = INK) -> None:
        width = width or (self.w - 2 * MARGIN_X)
        if self.get_y() + 2 * LH > self.page_break_trigger:
            self.add_page()
        x0, y0, page0 = self.get_x(), self.get_y(), self.page
        self.set_text_color(*GRAY)
        if self.get_string_width(label) <= label_w - 2 * self.c_margin:
            label_h = LH
        else:
            label_h = len(self.multi_cell(label_w, LH, label, align="L", dry_run=True, output="LINES")) * LH
        self.multi_cell(label_w, LH, label, align="L", new_x=XPos.RIGHT, new_y=YPos.TOP)
        self.set_text_color(*value_color)
        self.set_xy(x0 + label_w, y0)
        self.multi_cell(width - label_w, LH, _cjk(value), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if self.page == page0 and self.get_y() < y0 + label_h:
            self.set_y(y0 + label_h)
        self.set_x(x0)
        self.set_text_color(*INK)

    def qr(self, url: str, x: float, y: float, size: float) -> None:
        import segno

        code = segno.make(url, error="m")
        rows = [list(r) for r in code.matrix]
        n = len(rows)
        cell = size / n
        self.set_fill_color(0, 0, 0)
        for j, row in enumerate(rows):
            i = 0
            while i < n:
                if row[i]:
                    start = i
                    while i < n and row[i]:
                        i += 1
                    self.rect(x + start * cell, y + j * cell, (i - start) * cell, cell, style="F")
                else:
                    i += 1


def _number(i: int) -> str:
    if i <= 10:
        return CN_NUM[i - 1]
    return "十" + CN_NUM[i - 11] if i < 20 else str(i)


def _layout(pdf: _ReportPDF, content: dict[str, Any], signature: Signature) -> None:
    subject = content["subject"]
    summary = content["summary"]
    pdf.add_page()
    # Title block
    pdf.set_font("cjk", size=SMALL)
    pdf.set_text_color(*GRAY)
    pdf.set_xy(MARGIN_X, 10)
    pdf.cell(0, 5, f"报告编号：{content['number']}", align="R")
    pdf.set_y(24)
    pdf.set_font("cjk", size=20)
    pdf.set_text_color(*RED)
    pdf.set_draw_color(*RED)
    pdf.bold()
    pdf.cell(0, 11, report_title(content), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.bold(False)
    pdf.set_font("cjk", size=11)
    pdf.set_text_color(*GRAY)
    pdf.cell(0, 7, f"{content['issuer']['platform']} 出具", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(5)
    top = pdf.get_y()
    qr_size = 32.0
    info_w = pdf.w - 2 * MARGIN_X - qr_size - 6
    pdf.set_draw_color(*RULE)
    pdf.set_font("cjk", size=BODY)
    pdf.set_text_color(*INK)
    rows = [("报告编号", content["number"]), ("信用主体", subject["name"])]
    if subject.get("uscc"):
        rows.append(("统一社会信用代码", subject["uscc"]))
    if subject.get("citizen_id"):
        rows.append(("公民身份号码", subject["citizen_id"]))
    rows += [("主体类型", subject["kind_label"]), ("出具时间", china_time(content["issued_at"])),
             ("数据截止时间", china_time(content["data_cutoff"])), ("出具机构", content["issuer"]["platform"])]
    for label, value in rows:
        pdf.set_x(MARGIN_X)
        pdf.kv(label, value, label_w=31, width=info_w)
    bottom = max(pdf.get_y(), top + qr_size + 6)
    pdf.qr(content["verify_url"], pdf.w - MARGIN_X - qr_size, top, qr_size)
    pdf.set_font("cjk", size=SMALL - 0.5)
    pdf.set_text_color(*GRAY)
    pdf.set_xy(pdf.w - MARGIN_X - qr_size, top + qr_size + 0.5)
    pdf.cell(qr_size, 4, "扫码核验真伪", align="C")
    pdf.set_y(bottom + 2)
    pdf.set_draw_color(*RULE)
    pdf.rect(MARGIN_X - 2, top - 2, pdf.w - 2 * MARGIN_X + 4, bottom - top + 2)
    pdf.ln(2)
    pdf.paragraph(
        f"截至数据截止时间，本报告共收录该主体信用信息 {summary['total']} 条，其中失信（负面）信息 "
        f"{summary['negative']} 条，守信（正面）信息 {summary['positive']} 条，其他（中性）信息 {summary['neutral']} 条。",
        size=10)

    n = 0

    def section(title: str) -> None:
        nonlocal n
        n += 1
        pdf.heading(f"{_number(n)}、{title}")

    section("主体基本信息")
    labels = [("name", "名称"), ("kind_label", "主体类型"), ("uscc", "统一社会信用代码"), ("citizen_id", "公民身份号码"),
              ("org_type", "组织类型"), ("legal_rep", "法定代表人（负责人）"), ("reg_status", "登记状态"),
              ("established", "成立日期"), ("region", "所在地区"), ("address", "住所")]
    for key, label in labels:
        if subject.get(key):
            value = china_date(subject[key]) if key == "established" else subject[key]
            pdf.kv(label, value)
    for ident in subject.get("identifiers", []):
        pdf.kv(ident["label"], ident["value"])
    if subject.get("former_names"):
        pdf.kv("曾用名", "；".join(subject["former_names"]))

    section("信用信息概要")
    if not summary["categories"]:
        pdf.paragraph("截至数据截止时间，未查询到本报告范围内的信用信息。")
    for item in summary["categories"]:
        pdf.kv(item["category"], f"{item['count']} 条", label_w=60)

    section("信用信息明细")
    if not content["sections"]:
        pdf.paragraph("无。")
    full = content["kind"] == "full"
    for sec in content["sections"]:
        pdf.subheading(f"{sec['category']}（{sec['count']} 条）")
        for block in sec["resources"]:
            tag = f"{block['polarity_label']}"
            if full and block.get("disclosure_label"):
                tag += f" · {block['disclosure_label']}"
            pdf.paragraph(f"{block['name']}　{block['count']} 条　〔{tag}〕", size=BODY, color=GRAY)
            for i, rec in enumerate(block["records"], 1):
                if pdf.get_y() > pdf.page_break_trigger - 20:
                    pdf.add_page()
                parts = [f"{i}.", china_date(rec["date"]) if rec.get("date") else "", rec.get("department", "")]
                head = "  ".join(p for p in parts if p)
                pdf.set_fill_color(*FILL)
                pdf.set_font("cjk", size=BODY)
                pdf.cell(0, 6, head, fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                flags = []
                if rec.get("status"):
                    flags.append(("状态", rec["status"], RED))
                if full:
                    flags.append(("是否社会公开", "是（当前公示中）" if rec.get("publicly_shown") else "否", INK))
                if rec.get("public_until"):
                    flags.append(("公示截止", china_date(rec["public_until"]), INK))
                if rec.get("repair_after"):
                    flags.append(("可申请信用修复", f"{china_date(rec['repair_after'])}起", INK))
                for label, value, color in flags:
                    pdf.kv(label, value, value_color=color)
                for f in rec["fields"]:
                    pdf.kv(f["label"], f["value"])
                pdf.ln(1.5)

    if "rating" in content:
        rating = content["rating"]
        section("公共信用综合评价")
        if not rating["scored"]:
            pdf.paragraph(rating["message"])
        else:
            pdf.kv("评价等级", f"{rating['grade']}（{rating['grade_label']}）")
            pdf.kv("评价得分", str(rating["score"]))
            pdf.kv("评价模型", f"{rating['model_version']}，评价日 {china_date(rating['as_of'])}")
            if "factors" in rating:
                pdf.kv("基础分", str(rating["base"]), label_w=38)
                for f in rating["factors"]:
                    pdf.kv(f["name"], f"{f['points']:+d}　{f['rule']}", label_w=38)

    if "access_history" in content:
        history = content["access_history"]
        section("查询记录")
        if not history["items"]:
            pdf.paragraph("截至数据截止时间，没有部门查询过本主体的非公开信息。")
        else:
            shown = f"（共 {history['total']} 次，列出最近 {history['shown']} 次）" if history["total"] > history["shown"] else \
                f"（共 {history['total']} 次）"
            pdf.paragraph(f"以下为各部门查询本主体非公开信息的记录{shown}：", color=GRAY)
            for item in history["items"]:
                why = item["purpose"] + (f"：{item['purpose_text']}" if item["purpose_text"] else "")
                pdf.kv(china_time(item["time"]), f"{item['department']}（{item['channel']}）查询{item['resources']}；"
                                                 f"事由：{why or '未说明'}", label_w=38)

    section("数据来源")
    pdf.paragraph("本报告信息由以下单位依法报送至平台：" + ("、".join(content["sources"]) if content["sources"] else "无") + "。")

    section("信用主体的权利")
    for right in content["rights"]:
        pdf.kv(right["title"], right["text"], label_w=22)

    section("报告说明与核验")
    for i, note in enumerate(content["notes"], 1):
        pdf.paragraph(f"{i}. {note}")
    pdf.ln(2)
    pdf.kv("报告编号", content["number"], label_w=28)
    pdf.kv("在线核验", content["verify_url"], label_w=28)
    pdf.kv("内容摘要", f"SHA-256 {signature.hash}", label_w=28)
    pdf.kv("签名密钥", f"Ed25519 {signature.kid}", label_w=28)
    pdf.kv("数字签名", signature.value, label_w=28)


# -- seal -----------------------------------------------------------------------------------------


def seal_message(kid: str, blanked: bytes) -> bytes:
    return SEAL_MESSAGE_PREFIX + kid.encode("ascii") + b":" + hashlib.sha256(blanked).hexdigest().encode("ascii")


def _blank(data: bytes, start: int, end: int) -> bytes:
    return data[:start] + SEAL_PREFIX + (EMPTY_KID + ":" + EMPTY_SIG).encode("ascii") + data[end:]


def render_pdf(content: dict[str, Any], signature: Signature, envelope: bytes, *, kid: str,
               private: Ed25519PrivateKey) -> bytes:
    """The sealed PDF of a signed report (``envelope``: the signed JSON to embed)."""
    pdf = _ReportPDF(content)
    _install_font(pdf)
    issued = datetime.fromisoformat(content["issued_at"])
    pdf.set_creation_date(issued)
    pdf.set_title(f"{report_title(content)} - {content['subject']['name']}")
    pdf.set_subject(content["number"])
    pdf.set_author(content["issuer"]["platform"])
    pdf.set_creator("xinyong")
    pdf.set_producer("xinyong")
    pdf.set_lang("zh-CN")
    pdf.set_keywords(SEAL_PREFIX.decode() + EMPTY_KID + ":" + EMPTY_SIG)
    _layout(pdf, content, signature)
    pdf.embed_file(bytes=envelope, basename=f"{content['number']}.json", desc="签名的报告数据（JSON）",
                   modification_date=issued, mime_type="application/json", compress=True)
    data = bytes(pdf.output())
    matches = list(SEAL_RE.finditer(data))
    if len(matches) != 1:
        raise RuntimeError("PDF seal slot not found exactly once")
    m = matches[0]
    sig = private.sign(seal_message(kid, data)).hex()
    slot = SEAL_PREFIX + kid.encode("ascii") + b":" + sig.encode("ascii")
    assert len(slot) == m.end() - m.start()
    return data[:m.start()] + slot + data[m.end():]


@dataclass
class Seal:
    kid: str
    signature: bytes
    message: bytes


def read_seal(data: bytes) -> Seal | None | str:
    """The seal of a PDF: a Seal, None when there is none, "many" when there are several."""
    matches = list(SEAL_RE.finditer(data))
    if not matches:
        return None
    if len(matches) > 1:
        return "many"
    m = matches[0]
    kid = m.group(1).decode("ascii")
    return Seal(kid, bytes.fromhex(m.group(2).decode("ascii")), seal_message(kid, _blank(data, m.start(), m.end())))


def embedded_report(data: bytes) -> bytes | None:
    """The signed JSON attached to a PDF (None if absent or unreadable)."""
    import pypdf

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        for name, contents in reader.attachments.items():
            if name.endswith(".json") and contents:
                return contents[0]
    except Exception:  # noqa: BLE001 - any parse failure means "no readable attachment"
        return None
    return None

"""The HTML form of a report: the same content as the PDF, as a page or a standalone file."""

from __future__ import annotations

import json
from typing import Any

from xinyong.reports.pdf import china_date, china_time, report_title
from xinyong.reports.signing import Signature, envelope
from xinyong.web.qr import qr_svg


def context(content: dict[str, Any], signature: Signature) -> dict[str, Any]:
    return {"c": content, "sig": signature, "title": report_title(content), "qr_svg": qr_svg(content["verify_url"]),
            "china_time": china_time, "china_date": china_date}


def _script_safe(text: str) -> str:
    # Inside <script>: "</" and "<!--" must never appear literally.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_standalone(content: dict[str, Any], signature: Signature) -> str:
    """A self-contained HTML file (no site navigation), with the signed JSON embedded."""
    from xinyong.portal.templating import templates

    env_json = _script_safe(json.dumps(envelope(content, signature), ensure_ascii=False, sort_keys=True))
    return templates.env.get_template("reports/standalone.html").render(
        **context(content, signature), envelope_json=env_json)

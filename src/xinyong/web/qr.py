"""QR codes as inline SVG (segno, pure Python): report verification links, authenticator setup."""

from __future__ import annotations

import io


def qr_svg(data: str) -> str:
    """An ``<svg>`` element (no XML declaration, no fixed size: CSS sizes it), medium error correction."""
    import segno

    buf = io.BytesIO()
    segno.make(data, error="m").save(buf, kind="svg", xmldecl=False, svgns=True, border=2, omitsize=True,
                                     svgclass=None, lineclass=None)
    return buf.getvalue().decode("utf-8")

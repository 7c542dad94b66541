"""Administrative division names (行政区划) from python-stdnum's bundled GB/T 2260 table."""

from __future__ import annotations

import re
from functools import lru_cache

from stdnum import numdb

_YEARS = re.compile(r"^\[[^\]]*\]")


def _county(code: str) -> tuple[str | None, str | None]:
    info = numdb.get("cn/loc").info(code)
    province = county = None
    for _part, attrs in info:
        province = attrs.get("province", province)
        county = attrs.get("county", county)
    clean = lambda s: _YEARS.sub("", s) if s else s
    return clean(province), clean(county)


@lru_cache(maxsize=4096)
def region_name(code: str | None) -> str | None:
    """'440604' -> '广东省佛山市禅城区'; None when the code is unknown."""
    if not code or len(code) != 6 or not code.isdigit():
        return None
    province, county = _county(code)
    if not province and not county:
        return None
    parts = [province or ""]
    if code[4:] != "00" and code[2:4] != "00":
        _, city = _county(code[:4] + "00")
        if city and city != county and city not in ("市辖区", "县", "省直辖县级行政区划"):
            parts.append(city)
    if county and county != province:
        parts.append(county)
    return "".join(parts) or None

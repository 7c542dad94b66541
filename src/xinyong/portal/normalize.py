"""Search query normalisation: one key for a name however it is typed.

The name key is ``subjects.service.normalize_name`` (NFKC: full-width → half-width, （）→ (),
no whitespace, upper case) so that the index and the query agree with intake's matching.
Pinyin initials come from a per-character table plus the two-character words whose reading
differs (银行 → yh, 重庆 → cq): microseconds per name, so indexing stays cheap in bulk loads.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from xinyong.errors import InvalidInput
from xinyong.identity.codes import normalize_code
from xinyong.subjects.service import normalize_name

MIN_QUERY_CHARS = 2
MAX_QUERY_CHARS = 100
#: Bit that keeps initials bigrams apart from name bigrams in the one posting table.
INITIALS_FLAG = 1 << 42
#: And initials trigrams apart from both (three ASCII characters of 7 bits).
INITIALS_TRIGRAM_FLAG = 1 << 43
#: And initials four-grams (four ASCII characters of 7 bits) apart from those.
INITIALS_FOURGRAM_FLAG = 1 << 44
#: And a name's character trigrams apart from all four (three code points of 20 bits).
NAME_TRIGRAM_FLAG = 1 << 62
_CP = 0xFFFFF  # code points above it (plane 16, private use) share grams: confirmation sorts them out
_NAME_SEPARATOR = "\n"


class BadQuery(InvalidInput):
    """A malformed search query: HTTP 400 with a Chinese explanation."""

    status_code = 400
    code = "invalid_query"


@dataclass(frozen=True)
class Query:
    #: name | code
    mode: str
    #: Normalised name key (name mode) or normalised code (code mode).
    key: str
    #: Lower-case initials to match as well (queries of Latin letters only), else None.
    initials: str | None = None


def _reading_initial(reading: str) -> str:
    return unicodedata.normalize("NFKD", reading)[0].lower()


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, str], dict[str, str]]:
    from pypinyin.phrases_dict import phrases_dict
    from pypinyin.pinyin_dict import pinyin_dict

    chars = {chr(cp): _reading_initial(readings.split(",")[0]) for cp, readings in pinyin_dict.items()}
    words: dict[str, str] = {}
    for phrase, readings in phrases_dict.items():
        if len(phrase) == 2 and len(readings) == 2:
            pair = _reading_initial(readings[0][0]) + _reading_initial(readings[1][0])
            if chars.get(phrase[0], "") + chars.get(phrase[1], "") != pair:
                words[phrase] = pair
    return chars, words


def initials_of(name_key: str) -> str:
    """Pinyin initials of a normalised name: 佛山市美的电器 → fssmddq. Latin letters and digits
    are kept (lower case); punctuation is dropped."""
    chars, words = _tables()
    out: list[str] = []
    i, n = 0, len(name_key)
    while i < n:
        pair = words.get(name_key[i:i + 2])
        if pair is not None:
            out.append(pair)
            i += 2
            continue
        ch = name_key[i]
        if ch.isascii():
            if ch.isalnum():
                out.append(ch.lower())
        else:
            out.append(chars.get(ch, ""))
        i += 1
    return "".join(out)


def bigrams(text: str) -> set[int]:
    """Distinct character bigrams of ``text`` as integers (two code points of 21 bits)."""
    return {(ord(text[i]) << 21) | ord(text[i + 1]) for i in range(len(text) - 1)}


def trigrams(text: str) -> set[int]:
    """Distinct character trigrams of ``text`` as integers. A query of three or more characters
    reads a trigram's posting list: at a million subjects its rarest bigram's list still held
    6,000-15,000 names for a few hundred matches, each confirmed in turn."""
    return {NAME_TRIGRAM_FLAG | (ord(text[i]) & _CP) << 40 | (ord(text[i + 1]) & _CP) << 20 | (ord(text[i + 2]) & _CP)
            for i in range(len(text) - 2)}


def name_grams(text: str) -> set[int]:
    """What the index holds for one name: bigrams (two-character queries) and trigrams."""
    return bigrams(text) | trigrams(text)


def query_grams(key: str) -> set[int]:
    """The grams whose posting lists hold every name containing ``key`` (2+ characters)."""
    return trigrams(key) if len(key) >= 3 else bigrams(key)


def initials_bigrams(initials: str) -> set[int]:
    return {g | INITIALS_FLAG for g in bigrams(initials)}


def initials_trigrams(initials: str) -> set[int]:
    """Distinct trigrams of pinyin initials (ASCII). Initials use a 36-letter alphabet, so a
    bigram's posting list at a million subjects held 30,000 to 800,000 of them; a query of three
    letters reads a trigram's list instead (four or more: a four-gram's)."""
    return {INITIALS_TRIGRAM_FLAG | (ord(initials[i]) & 0x7F) << 14 | (ord(initials[i + 1]) & 0x7F) << 7
            | (ord(initials[i + 2]) & 0x7F) for i in range(len(initials) - 2)}


def initials_fourgrams(initials: str) -> set[int]:
    """Distinct four-grams of pinyin initials: a trigram's list still held up to 850,000 subjects
    (fss: 佛山市) and a four-letter query confirmed 10,000-60,000 of them for a few hundred matches."""
    return {INITIALS_FOURGRAM_FLAG | (ord(initials[i]) & 0x7F) << 21 | (ord(initials[i + 1]) & 0x7F) << 14
            | (ord(initials[i + 2]) & 0x7F) << 7 | (ord(initials[i + 3]) & 0x7F) for i in range(len(initials) - 3)}


def initials_grams(initials: str) -> set[int]:
    """What the index holds for a subject's initials: bigrams (two-letter queries), trigrams
    (three letters) and four-grams (four or more)."""
    return initials_bigrams(initials) | initials_trigrams(initials) | initials_fourgrams(initials)


def initials_query_grams(initials: str) -> set[int]:
    """The grams whose posting lists hold every subject whose initials contain ``initials``."""
    if len(initials) >= 4:
        return initials_fourgrams(initials)
    return initials_trigrams(initials) if len(initials) == 3 else initials_bigrams(initials)


def names_key(current: str, former: list[str] | tuple[str, ...] = ()) -> str:
    """What search matches against: the current and former normalised names."""
    seen: list[str] = []
    for key in (current, *former):
        if key and key not in seen:
            seen.append(key)
    return _NAME_SEPARATOR.join(seen)


def _looks_like_code(text: str) -> bool:
    return text.isascii() and text.isalnum() and any(c.isdigit() for c in text) and len(text) >= 8


def parse_query(raw: str | None) -> Query:
    """Classify and normalise a search query; raises ``BadQuery`` (400) with a Chinese message."""
    text = (raw or "").strip()
    if not text:
        raise BadQuery("请输入查询内容：主体名称中的至少2个字，或统一社会信用代码、注册号、组织机构代码。",
                       code="query_required")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") for ch in text):
        raise BadQuery("查询内容包含不可见的控制字符，请删除后重试。", code="invalid_query")
    if len(text) > MAX_QUERY_CHARS:
        raise BadQuery(f"查询内容过长（{len(text)} 个字符）：请输入不超过 {MAX_QUERY_CHARS} 个字符。",
                       code="query_too_long")
    code = normalize_code(unicodedata.normalize("NFKC", text))
    if _looks_like_code(code):
        return Query("code", code.upper())
    key = normalize_name(text)
    if len(key) < MIN_QUERY_CHARS:
        raise BadQuery(f"查询内容至少需要 {MIN_QUERY_CHARS} 个字符（例如名称中的两个字）。", code="query_too_short")
    initials = key.lower() if key.isascii() and key.isalpha() else None
    return Query("name", key, initials)

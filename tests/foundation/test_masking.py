"""Masking of personal data in any text (log lines, record fields on public pages)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from xinyong.logging import _CITIZEN_ID, _LEGACY_ID, _MOBILE, mask_personal_data

# Digits (ASCII and full-width), the check letter, letters, CJK text and punctuation, in runs.
_PIECES = st.one_of(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),  # a mobile number
                    st.from_regex(r"[0-9]{17}[0-9Xx]|[0-9]{15}", fullmatch=True),  # an ID number
                    st.text(alphabet="0123456789", min_size=1, max_size=20),
                    st.text(alphabet="0123456789０１２３４５６７８９Xx", min_size=1, max_size=20),
                    st.text(alphabet="abcXYZ 号第（）〔〕-_:/,", max_size=4),
                    st.text(alphabet="佛山市监罚电话身份证", max_size=4))


def _every_shape_substituted(text: str) -> str:
    text = _CITIZEN_ID.sub(lambda m: m.group(1) + "*" * 10 + m.group(2), text)
    text = _LEGACY_ID.sub(lambda m: m.group(1) + "*" * 8 + m.group(2), text)
    return _MOBILE.sub(lambda m: m.group(1) + "****" + m.group(2), text)


@settings(max_examples=500, deadline=None)
@given(st.lists(_PIECES, max_size=8).map("".join))
def test_masking_skips_only_text_with_nothing_to_mask(text):
    """The quick check for eleven digits in a row changes no result."""
    assert mask_personal_data(text) == _every_shape_substituted(text)


def test_ids_and_mobile_numbers_are_masked_in_running_text():
    assert mask_personal_data("当事人身份证44060419900101123X。") == "当事人身份证4406**********123X。"
    assert mask_personal_data("旧证440604900101123，") == "旧证4406********123，"
    assert mask_personal_data("电话13912345678") == "电话139****5678"
    assert mask_personal_data("文号佛市监罚〔2025〕12号，罚款3000000元") == "文号佛市监罚〔2025〕12号，罚款3000000元"

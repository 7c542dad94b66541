"""The search query normaliser: width, bracket and space variants give one key; bad input is a 400."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from xinyong.portal.normalize import BadQuery, bigrams, initials_of, parse_query
from xinyong.subjects.service import normalize_name

CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
NAME_CHARS = st.one_of(CJK, st.sampled_from(list("()（）ABCabc123 ")))
INITIALS = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789"), min_size=2, max_size=40)


def to_fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c) for c in text)


@given(st.text(NAME_CHARS, min_size=2, max_size=30))
def test_fullwidth_and_halfwidth_give_the_same_key(name):
    assert normalize_name(to_fullwidth(name)) == normalize_name(name)


@given(st.text(NAME_CHARS, min_size=1, max_size=30))
def test_normalisation_is_idempotent(name):
    once = normalize_name(name)
    assert normalize_name(once) == once
    assert not any(ch.isspace() for ch in once)
    assert "（" not in once and "）" not in once


@settings(max_examples=200)
@given(st.text(CJK, min_size=2, max_size=25), st.data())
def test_every_substring_of_two_or_more_is_found_by_its_bigrams(name, data):
    """The index's candidate rule: a substring's bigrams are all among the name's."""
    i = data.draw(st.integers(0, len(name) - 2))
    j = data.draw(st.integers(i + 2, len(name)))
    q = parse_query(name[i:j])
    assert q.mode == "name" and q.key == name[i:j]
    assert bigrams(q.key) <= bigrams(normalize_name(name))
    assert q.key in normalize_name(name)


@settings(max_examples=200)
@given(st.lists(st.text(NAME_CHARS, min_size=1, max_size=25), min_size=1, max_size=3), st.data())
def test_a_query_reads_a_list_that_holds_every_name_containing_it(names, data):
    """Whatever gram a query reads (its trigrams from three characters on, else its bigrams),
    every indexed name (current or former) containing the query is on that gram's list."""
    from xinyong.portal.normalize import name_grams, query_grams

    keys = [normalize_name(n) for n in names]
    key = data.draw(st.sampled_from(keys))
    assume(len(key) >= 2)
    i = data.draw(st.integers(0, len(key) - 2))
    j = data.draw(st.integers(i + 2, len(key)))
    q = parse_query(key[i:j])
    assume(q.mode == "name")
    grams = query_grams(q.key)
    assert grams
    held = set().union(*(name_grams(k) for k in keys))
    assert grams <= held
    # Three characters or more: a trigram's list, one per distinct triple.
    if len(q.key) >= 3:
        assert len(grams) == len({q.key[k:k + 3] for k in range(len(q.key) - 2)})


@settings(max_examples=200)
@given(INITIALS, st.data())
def test_an_initials_query_reads_a_list_that_holds_every_subject_with_it(initials, data):
    """Two letters read a bigram's list, three a trigram's, four or more a four-gram's: every
    subject whose initials contain the query is on it."""
    from xinyong.portal.normalize import initials_grams, initials_query_grams

    i = data.draw(st.integers(0, len(initials) - 2))
    j = data.draw(st.integers(i + 2, len(initials)))
    grams = initials_query_grams(initials[i:j])
    assert grams and grams <= initials_grams(initials)
    width = min(j - i, 4)
    assert len(grams) == len({initials[i:j][k:k + width] for k in range(j - i - width + 1)})


def test_bracket_variants_match():
    assert parse_query("云骏工艺品店（个体工商户）").key == parse_query("云骏工艺品店(个体工商户)").key
    assert parse_query(" 佛山　陶瓷 ").key == "佛山陶瓷"


def test_codes_are_recognised_and_normalised():
    q = parse_query(" 9144 0604-MA4W 1234 5X ")
    assert q.mode == "code" and q.key == "914406O4MA4W12345X".replace("O", "0")
    assert parse_query("12345678-9").mode == "code"


def test_pinyin_initials():
    assert initials_of(normalize_name("佛山市美的电器有限公司")) == "fssmddqyxgs"
    assert initials_of("中国建设银行重庆分行") .startswith("zgjsyhcq")
    q = parse_query("FSMD")
    assert q.mode == "name" and q.initials == "fsmd"


@pytest.mark.parametrize("bad, code", [
    ("", "query_required"), ("   ", "query_required"), ("张", "query_too_short"), ("a", "query_too_short"),
    ("陶瓷\x00", "invalid_query"), ("陶\u200e瓷", "invalid_query"), ("陶" * 101, "query_too_long"),
])
def test_malformed_queries_are_400_with_chinese_message(bad, code):
    with pytest.raises(BadQuery) as err:
        parse_query(bad)
    assert err.value.status_code == 400 and err.value.code == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in err.value.message)


@given(st.text(min_size=0, max_size=120))
def test_parse_query_never_crashes(text):
    try:
        q = parse_query(text)
    except BadQuery:
        return
    assert q.mode in ("name", "code") and len(q.key) >= 2
    assert unicodedata.normalize("NFKC", q.key) == q.key or q.mode == "code"


@given(st.text(CJK, min_size=2, max_size=30), INITIALS)
def test_name_bigrams_and_initials_grams_never_share_a_posting_list(name, initials):
    from xinyong.portal.normalize import initials_bigrams, initials_fourgrams, initials_trigrams, trigrams

    names, two, three = bigrams(name), initials_bigrams(initials), initials_trigrams(initials)
    four = initials_fourgrams(initials)
    triples = trigrams(name) | trigrams(initials)  # initials as a name too (letters in names)
    assert not (names & two) and not (names & three) and not (two & three)
    assert not (four & (names | two | three | bigrams(initials)))
    assert not (triples & (names | two | three | four | bigrams(initials)))
    assert len(trigrams(name)) == len({name[i:i + 3] for i in range(len(name) - 2)})
    assert len(four) == len({initials[i:i + 4] for i in range(len(initials) - 3)})
    # One trigram per distinct three letters: different letters, different lists.
    assert len(three) == len({initials[i:i + 3] for i in range(len(initials) - 2)})

"""Hostile or malformed input to the API gets a 4xx JSON error in Chinese, never a 500."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CODEY = st.text(alphabet=st.sampled_from("0123456789ABCDEFGHJKLMNPQRTUWXYabcxyz-－ 　Ｘ"), min_size=0, max_size=40)
ANY = st.text(min_size=1, max_size=80)


def _check(resp) -> None:
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        err = resp.json()["error"]
        assert err["code"] and any("\u4e00" <= c <= "\u9fff" for c in err["message"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ident=st.one_of(CODEY, ANY))
def test_subject_lookup_never_fails_server_side(client, ident):
    _check(client.get("/api/v1/subjects/" + quote(ident, safe="")))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.one_of(st.none(), ANY), kind=st.one_of(st.none(), st.text(max_size=20)),
       region=st.one_of(st.none(), st.text(max_size=8)),
       page=st.one_of(st.none(), st.integers(-5, 20000).map(str), st.text(max_size=5)),
       size=st.one_of(st.none(), st.integers(-5, 500).map(str)))
def test_subject_list_params_never_fail_server_side(client, q, kind, region, page, size):
    params = {k: v for k, v in {"q": q, "kind": kind, "region": region, "page": page, "size": size}.items()
              if v is not None}
    _check(client.get("/api/v1/subjects", params=params))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(code=ANY)
def test_catalogue_lookup_never_fails_server_side(client, code):
    _check(client.get("/api/v1/catalogue/" + quote(code, safe="")))


def test_control_characters_are_refused_cleanly(client):
    for bad in ("\x00", "佛山\x00公司", "\ud800"[:0] + "abc\x1f"):
        _check(client.get("/api/v1/subjects", params={"q": bad}))
        _check(client.get("/api/v1/subjects/" + quote(bad, safe="")))

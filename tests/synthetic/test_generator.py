"""The synthetic city: deterministic, valid against the catalogue, in the formats departments use."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

from xinyong.catalogue import load_catalogue
from xinyong.catalogue.validation import validate_row
from xinyong.identity.codes import check_citizen_id, check_uscc
from xinyong.synthetic.generator import generate_city, read_manifest
from xinyong.synthetic.population import Population

AS_OF = date(2026, 11, 1)


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("city")
    generate_city(out, n_subjects=3000, seed=7, as_of=AS_OF)
    return out


def read_rows(path: Path, fmt: str, encoding: str | None) -> tuple[list[str], list[list[str]]]:
    if fmt == "ndjson":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        headers = sorted({k for r in rows for k in r})
        return headers, [[r.get(h, "") for h in headers] for r in rows]
    if fmt == "xlsx":
        sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
        # Real exports put a title above the header: the header is the first row with many cells.
        start = next(i for i, r in enumerate(sheet) if sum(1 for c in r if c != "") > 3)
        return [str(c) for c in sheet[start]], [[str(c) for c in r] for r in sheet[start + 1:]]
    with open(path, encoding=encoding, newline="") as fh:
        data = list(csv.reader(fh))
    return data[0], data[1:]


def test_every_file_validates_against_the_catalogue(city):
    catalogue = load_catalogue()
    manifest = read_manifest(city)
    assert manifest["subjects"] == {"organisations": 3000, "persons": 600, "total": 3600}
    seen_resources = set()
    formats = set()
    for entry in manifest["files"]:
        resource = catalogue.get(entry["resource"])
        headers, rows = read_rows(city / entry["path"], entry["format"], entry["encoding"])
        fields = resource.map_headers(headers)
        assert all(f is not None for f in fields), (entry["path"], headers)
        assert len(rows) == entry["rows"] > 0
        for n, row in enumerate(rows, start=2):
            values = {f.code: v for f, v in zip(fields, row, strict=True)}
            _, errors = validate_row(resource, values, today=AS_OF)
            assert not errors, (entry["path"], n, [e.to_dict() for e in errors])
        seen_resources.add(resource.code)
        formats.add((entry["format"], entry["encoding"]))
    # Every catalogue resource has data, in every format and encoding departments send.
    assert seen_resources == set(catalogue.codes)
    assert {("csv", "utf-8-sig"), ("csv", "gbk"), ("csv", "gb18030"), ("xlsx", None), ("ndjson", "utf-8")} <= formats
    assert manifest["records_total"] == sum(manifest["records_by_resource"].values())


def test_realistic_proportions(city):
    counts = read_manifest(city)["records_by_resource"]
    assert counts["admin_license"] > 5 * counts["admin_penalty"] > 0
    black = [r.code for r in load_catalogue().lists("black")]
    assert sum(counts.get(c, 0) for c in black) < counts["admin_penalty"]
    assert counts["enterprise_registration"] > 0.5 * 3000


def test_same_seed_same_bytes_other_seed_differs(city, tmp_path):
    again = tmp_path / "again"
    generate_city(again, n_subjects=3000, seed=7, as_of=AS_OF)
    a = {f["path"]: f["sha256"] for f in read_manifest(city)["files"]}
    b = {f["path"]: f["sha256"] for f in read_manifest(again)["files"]}
    assert a == b
    other = tmp_path / "other"
    generate_city(other, n_subjects=300, seed=8, as_of=AS_OF)
    c = {f["path"]: f["sha256"] for f in read_manifest(other)["files"]}
    assert not set(a.items()) & set(c.items())


def test_population_codes_are_valid_and_unique():
    pop = Population(50_000, seed=3)
    names, usccs, org_codes = set(), set(), set()
    for i in range(pop.n_subjects):
        s = pop.subject(i)
        names.add(s.name)
        usccs.add(s.uscc)
        org_codes.add(s.org_code)
        if i % 97 == 0:
            assert check_uscc(s.uscc).valid
            assert s.uscc[2:8] == s.region
    assert len(names) == len(usccs) == pop.n_subjects
    ids = {pop.person(j).citizen_id for j in range(pop.n_persons)}
    assert len(ids) == pop.n_persons
    assert all(check_citizen_id(cid).valid for cid in list(ids)[:500])
    # Subject i does not depend on what was generated before it.
    assert Population(50_000, seed=3).subject(49_999) == pop.subject(49_999)


def test_parallel_workers_give_the_same_city_in_parts(city, tmp_path):
    out = tmp_path / "par"
    manifest = generate_city(out, n_subjects=3000, seed=7, as_of=AS_OF, workers=2)
    assert manifest["records_by_resource"] == read_manifest(city)["records_by_resource"]
    assert {f["path"].split("/")[-1].split("-")[-1].split(".")[0] for f in manifest["files"]} <= {"1of2", "2of2"}
    # Natural keys stay unique across the parts.
    catalogue = load_catalogue()
    penalty = catalogue.get("admin_penalty")
    keys = []
    for entry in manifest["files"]:
        if entry["resource"] != "admin_penalty":
            continue
        headers, rows = read_rows(out / entry["path"], entry["format"], entry["encoding"])
        fields = [f.code if f else None for f in penalty.map_headers(headers)]
        keys += [(r[fields.index("decision_no")], r[fields.index("authority")]) for r in rows]
    assert len(keys) == len(set(keys)) == manifest["records_by_resource"]["admin_penalty"]

"""Register a generated city's subjects (the market-regulation and civil-affairs base registry).

Records arrive through intake; this only gives the demo a populated subject base.
Re-running it changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from rich.progress import Progress

from xinyong.db.engine import session_scope
from xinyong.errors import InvalidInput
from xinyong.identity.crypto import get_keyring
from xinyong.subjects.service import SubjectIn, UpsertStats, upsert_subjects
from xinyong.synthetic.generator import read_manifest
from xinyong.synthetic.population import Population, SyntheticSubject

_CHUNK = 5000


def to_subject_in(s: SyntheticSubject) -> SubjectIn:
    if s.kind == "natural_person":
        return SubjectIn(kind="natural_person", name=s.name, citizen_id=s.citizen_id, region=s.region)
    idents = {k: v for k, v in (("reg_no", s.reg_no), ("org_code", s.org_code)) if v}
    return SubjectIn(kind=s.kind, org_type=s.org_type, name=s.name, uscc=s.uscc, region=s.region,
                     legal_rep=s.legal_rep, reg_status=s.status, established=s.established,
                     address=s.address, identifiers=idents)


def iter_city(pop: Population) -> Iterator[SubjectIn]:
    for i in range(pop.n_subjects):
        yield to_subject_in(pop.subject(i))
    for j in range(pop.n_persons):
        yield to_subject_in(pop.person(j))


def load_city(city_dir: Path, *, progress: bool = False, url: str | None = None) -> dict[str, int]:
    manifest = read_manifest(city_dir)
    if manifest is None:
        raise InvalidInput(f"{city_dir} 不是合成城市目录（缺少 manifest.json）：请先运行 `xinyong generate`。",
                           code="not_a_city")
    pop = Population(manifest["subjects"]["organisations"], manifest["seed"],
                     n_persons=manifest["subjects"]["persons"])
    total = pop.n_subjects + pop.n_persons
    stats = UpsertStats()
    keyring = get_keyring()
    items = iter_city(pop)
    # One transaction: a crash leaves the registry as it was; a re-run is a no-op.
    with session_scope(url) as session, Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("载入信用主体", total=total)
        done = 0
        while done < total:
            chunk = [next(items) for _ in range(min(_CHUNK, total - done))]
            s = upsert_subjects(session, chunk, source="synthetic", keyring=keyring, chunk_size=_CHUNK)
            stats.created += s.created
            stats.updated += s.updated
            stats.unchanged += s.unchanged
            done += len(chunk)
            bar.update(task, completed=done)
    return stats.to_dict()

"""Large synthetic ``admin_penalty`` files, written fast (benchmarks and crash tests).

The synthetic city (``xinyong generate``) is the realistic fixture; this writer only needs to
be quick at millions of rows. Subjects come from the same deterministic population, so the
city's registry (``iter_registry``) matches the files.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from xinyong.catalogue import load_catalogue
from xinyong.subjects.service import SubjectIn
from xinyong.synthetic.population import Population, SyntheticSubject
from xinyong.synthetic.values import VIOLATIONS

_CATEGORIES = ["罚款", "警告", "罚款；没收违法所得", "警告；罚款", "责令停产停业", "吊销许可证件", "通报批评"]
AUTHORITY = ("佛山市市场监督管理局", "11440600862729575F")


def population_for(n_rows: int, seed: int) -> Population:
    n_subjects = max(50, min(n_rows // 8, 60_000))
    return Population(n_subjects, seed, n_persons=max(20, n_subjects // 10))


def iter_registry(pop: Population) -> Iterator[SubjectIn]:
    from xinyong.synthetic.load import to_subject_in

    for i in range(pop.n_subjects):
        yield to_subject_in(pop.subject(i))
    for j in range(pop.n_persons):
        yield to_subject_in(pop.person(j))


def write_penalty_csv(path: Path, n_rows: int, *, seed: int = 1, as_of: date = date(2026, 11, 1),
                      encoding: str = "utf-8") -> Path:
    """An ``admin_penalty`` CSV of ``n_rows`` valid rows with unique decision numbers."""
    resource = load_catalogue().get("admin_penalty")
    pop = population_for(n_rows, seed)
    subjects: list[SyntheticSubject] = [pop.subject(i) for i in range(pop.n_subjects)]
    persons: list[SyntheticSubject] = [pop.person(j) for j in range(pop.n_persons)]
    rng = random.Random(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    order = [f.code for f in resource.fields]
    with open(path, "w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow([f.label for f in resource.fields])
        for n in range(n_rows):
            person = n % 33 == 0
            s = persons[n % len(persons)] if person else subjects[(n * 7919) % len(subjects)]
            decided = as_of - timedelta(days=rng.randrange(1, 1000))
            violation, basis = VIOLATIONS[n % len(VIOLATIONS)]
            category = _CATEGORIES[n % len(_CATEGORIES)]
            fine = f"{rng.randrange(1, 5000) / 100:.2f}" if "罚款" in category else ""
            row = {
                "subject_name": s.name,
                "subject_category": "自然人" if person else ("个体工商户" if s.kind == "individual_business" else "法人及非法人组织"),
                "uscc": "" if person else s.uscc,
                "reg_no": (s.reg_no or "") if not person else "",
                "org_code": (s.org_code or "") if not person else "",
                "legal_rep": "" if person else s.legal_rep,
                "legal_rep_id_type": "" if person else "身份证",
                "legal_rep_id_no": "" if person else s.legal_rep_id,
                "id_type": "身份证" if person else "",
                "id_no": s.citizen_id if person else "",
                "decision_no": f"佛市监罚〔{decided.year}〕{n + 1}号",
                "violation_type": violation,
                "violation_facts": f"经查，当事人{violation}，违反了有关规定。",
                "legal_basis": basis,
                "penalty_category": category,
                "penalty_content": f"罚款人民币{fine}万元" if fine else f"给予{category}的行政处罚",
                "fine_amount": fine,
                "confiscated_amount": f"{rng.randrange(1, 900) / 100:.2f}" if "没收" in category else "",
                "license_affected": "",
                "decision_date": decided.isoformat(),
                "valid_until": "2099-12-31" if n % 3 == 0 else (decided + timedelta(days=365)).isoformat(),
                "publish_until": "",
                "authority": AUTHORITY[0],
                "authority_uscc": AUTHORITY[1],
                "source_department": AUTHORITY[0],
                "source_department_uscc": AUTHORITY[1],
                "remarks": "",
            }
            w.writerow([row.get(c, "") for c in order])
    return path

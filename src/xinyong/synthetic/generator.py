"""`xinyong generate`: a deterministic synthetic city, written as department export files.

Subjects are computed from (seed, index) and records streamed straight to the files, so memory
stays flat whatever the size. The same seed and as-of date give byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import random
import zlib
from collections import Counter
from datetime import date, datetime, time, timedelta
from pathlib import Path

from rich.progress import Progress

from xinyong.catalogue import Resource, load_catalogue
from xinyong.departments.service import load_default_departments
from xinyong.synthetic.population import Population, SyntheticSubject
from xinyong.synthetic.values import Ctx, fill_record
from xinyong.synthetic.writers import CsvWriter, NdjsonWriter, XlsxWriter

MANIFEST = "manifest.json"
FORMAT_VERSION = 1

# How each department exports (format, encoding): a realistic mix for intake to cope with.
DEPARTMENT_FORMATS = {
    "market_regulation": ("csv", "utf-8-sig"),
    "tax": ("xlsx", None),
    "court": ("ndjson", "utf-8"),
    "hrss": ("csv", "gbk"),
    "finance": ("xlsx", None),
    "housing": ("csv", "gb18030"),
    "emergency": ("csv", "utf-8"),
}
_ROTATION = [("csv", "utf-8-sig"), ("xlsx", None), ("csv", "gbk"), ("ndjson", "utf-8"), ("csv", "utf-8")]

# Expected records per eligible subject; others by polarity/list below.
RATES = {
    "admin_license": 1.2,
    "admin_penalty": 0.12,
    "admin_inspection": 0.3,
    "admin_enforcement": 0.01,
    "credit_commitments": 0.25,
    "tax_credit_ratings": 0.5,
    "tax_a_grade_taxpayers": 0.06,
    "honours": 0.02,
    "key_profession_records": 0.3,
    "professional_qualifications": 0.4,
    "business_abnormality": 0.03,
    "environmental_credit_ratings": 0.05,
    "voluntary_disclosures": 0.01,
    "credit_agency_filings": 0.002,
}
PERSON_RATES = {"admin_penalty": 0.03, "admin_license": 0.05, "dishonest_judgment_debtors": 0.04}
_LIST_RATES = {"black": 0.004, "watch": 0.02, "red": 0.02}
_POLARITY_RATES = {"negative": 0.01, "positive": 0.02, "neutral": 0.03}
# Registration resources cover one kind of organisation each.
REGISTRATION_ORG_TYPE = {
    "enterprise_registration": "enterprise",
    "social_organization_registration": "social_org",
    "public_institution_registration": "public_institution",
}
HISTORY_DAYS = 3 * 365


def read_manifest(city_dir: Path) -> dict | None:
    path = Path(city_dir) / MANIFEST
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _rate(resource: Resource, subject: SyntheticSubject) -> float:
    if subject.kind == "natural_person" and resource.code in PERSON_RATES:
        return PERSON_RATES[resource.code]
    if resource.code in RATES:
        return RATES[resource.code]
    if resource.category == "登记注册基本信息":
        want = REGISTRATION_ORG_TYPE.get(resource.code)
        if want is not None and subject.org_type != want:
            return 0.0
        return 1.0
    if resource.list_kind:
        return _LIST_RATES[resource.list_kind]
    return _POLARITY_RATES[resource.polarity]


def _count(rng: random.Random, rate: float) -> int:
    if rate >= 1.0:
        whole = int(rate)
        return whole + (1 if rng.random() < rate - whole else 0)
    if rng.random() >= rate:
        return 0
    return 2 if rng.random() < 0.1 else 1  # a few subjects have repeat records


class _City:
    def __init__(self, out: Path, catalogue, departments: dict[str, dict], as_of: date, seed: int,
                 worker: int = 0, workers: int = 1) -> None:
        self.worker, self.workers = worker, workers
        self.out = out
        self.catalogue = catalogue
        self.departments = departments
        self.as_of = as_of
        self.seed = seed
        self.writers: dict[tuple[str, str], object] = {}
        self.seq: Counter = Counter()
        self.counts: Counter = Counter()
        self.resources = list(catalogue)

    def _format(self, dept_code: str) -> tuple[str, str | None]:
        if dept_code in DEPARTMENT_FORMATS:
            return DEPARTMENT_FORMATS[dept_code]
        return _ROTATION[zlib.crc32(dept_code.encode()) % len(_ROTATION)]

    def writer(self, dept: dict, resource: Resource):
        key = (dept["code"], resource.code)
        w = self.writers.get(key)
        if w is None:
            fmt, enc = self._format(dept["code"])
            folder = self.out / dept["code"]
            folder.mkdir(parents=True, exist_ok=True)
            headers = [f.label for f in resource.fields]
            part = f"-{self.worker + 1}of{self.workers}" if self.workers > 1 else ""
            path = folder / f"{resource.code}{part}.{fmt}"
            if fmt == "xlsx":
                w = XlsxWriter(path, headers, f"{dept['name']} {resource.name}（截至 {self.as_of.isoformat()}）",
                                datetime.combine(self.as_of, time(0, 0)))
            elif fmt == "ndjson":
                w = NdjsonWriter(path, headers)
            else:
                w = CsvWriter(path, headers, enc or "utf-8")
            self.writers[key] = w
        return w

    def _dept_for(self, resource: Resource, subject: SyntheticSubject, rng: random.Random) -> dict:
        candidates = [d for d in resource.source_departments if d in self.departments]
        # District bureaus handle their own district; city bureaus take the rest.
        local = [d for d in candidates if self.departments[d]["region"] == subject.region]
        if local and rng.random() < 0.7:
            return self.departments[local[0]]
        city = [d for d in candidates if self.departments[d]["level"] == "city"] or candidates
        return self.departments[city[0] if rng.random() < 0.6 else rng.choice(city)]

    def emit(self, subject: SyntheticSubject, person: bool) -> None:
        # One generator per subject: subject i's records depend on (seed, i, catalogue) only.
        rng = random.Random((self.seed * 1_000_003 + subject.index) * 2 + person)
        for resource in self.resources:
            if subject.kind not in resource.subject_kinds:
                continue
            n = _count(rng, _rate(resource, subject))
            prev_base = None
            for _ in range(n):
                dept = self._dept_for(resource, subject, rng)
                key = (dept["code"], resource.code)
                self.seq[key] += 1
                # Interleaved so numbers stay unique across workers and fixed for (seed, workers).
                seq = (self.seq[key] - 1) * self.workers + self.worker + 1
                if resource.category == "登记注册基本信息":
                    base = subject.established
                else:
                    earliest = subject.established if not person else self.as_of - timedelta(days=HISTORY_DAYS)
                    span = max((self.as_of - max(earliest, self.as_of - timedelta(days=HISTORY_DAYS))).days, 0)
                    base = self.as_of - timedelta(days=rng.randint(0, span))
                    if prev_base is not None and base.year == prev_base.year:
                        # A repeat record is from another year: keys such as (uscc, evaluation year)
                        # allow one record per subject and year.
                        base = prev_base - timedelta(days=366)
                prev_base = base
                ctx = Ctx(rng=rng, subject=subject, dept=dept, resource=resource, seq=seq,
                          as_of=self.as_of, base=base)
                self.writer(dept, resource).write(fill_record(resource, ctx))
                self.counts[resource.code] += 1

    def close(self) -> list[dict]:
        files = []
        for (dept_code, res_code), w in sorted(self.writers.items()):
            w.close()
            fmt, enc = self._format(dept_code)
            for path in w.paths:
                files.append({"path": str(path.relative_to(self.out)), "department": dept_code,
                              "resource": res_code, "format": fmt, "encoding": enc,
                              "rows": w.rows if len(w.paths) == 1 else None, "sha256": _sha256(path)})
        return files


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _slice(n: int, worker: int, workers: int) -> range:
    return range(n * worker // workers, n * (worker + 1) // workers)


_progress_counter = None


def _init_worker(counter) -> None:
    global _progress_counter  # shared by inheritance: synchronised values cannot be pickled
    _progress_counter = counter


def _run_worker(args: tuple) -> tuple[list[dict], dict[str, int]]:
    out, n_subjects, n_persons, seed, as_of, worker, workers, catalogue = args
    counter = _progress_counter
    departments = {d.code: {"code": d.code, "name": d.name, "uscc": d.uscc, "region": d.region, "level": d.level}
                   for d in load_default_departments()}
    pop = Population(n_subjects, seed, n_persons=n_persons)
    city = _City(out, catalogue, departments, as_of, seed, worker, workers)
    done = 0
    for i in _slice(pop.n_subjects, worker, workers):
        city.emit(pop.subject(i), person=False)
        done += 1
        if done % 500 == 0:
            _tick(counter, 500)
    for j in _slice(pop.n_persons, worker, workers):
        city.emit(pop.person(j), person=True)
        done += 1
        if done % 500 == 0:
            _tick(counter, 500)
    _tick(counter, done % 500)
    return city.close(), dict(city.counts)


def _tick(counter, n: int) -> None:
    if counter is not None:
        with counter.get_lock():
            counter.value += n


def generate_city(out: Path, *, n_subjects: int, seed: int, as_of: date | None = None,
                  n_persons: int | None = None, progress: bool = False, catalogue=None,
                  workers: int = 1) -> dict:
    """Write the city's department files under ``out`` and return the manifest.

    With ``workers`` > 1 the subjects are split into that many ranges, generated in parallel
    processes, each writing its own part files (``admin_license-1of2.csv`` …). The content is
    fixed for a given (seed, workers).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    as_of = as_of or date.today()
    catalogue = catalogue or load_catalogue()
    pop = Population(n_subjects, seed, n_persons=n_persons)
    workers = max(1, min(workers, pop.n_subjects))
    # A half-written city must never look complete: the manifest is written last, atomically.
    (out / MANIFEST).unlink(missing_ok=True)
    total = pop.n_subjects + pop.n_persons
    jobs = [(out, pop.n_subjects, pop.n_persons, seed, as_of, k, workers, catalogue) for k in range(workers)]
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("生成合成城市", total=total)
        if workers == 1:
            results = [_run_worker(jobs[0])]
        else:
            ctx = multiprocessing.get_context("fork")
            counter = ctx.Value("q", 0)
            with ctx.Pool(workers, initializer=_init_worker, initargs=(counter,)) as pool:
                pending = pool.map_async(_run_worker, jobs)
                while not pending.ready():
                    pending.wait(0.5)
                    bar.update(task, completed=counter.value)
                results = pending.get()
        bar.update(task, completed=total)
    files = sorted((f for fs, _ in results for f in fs), key=lambda f: f["path"])
    counts: Counter = Counter()
    for _, c in results:
        counts.update(c)
    manifest = {
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "as_of": as_of.isoformat(),
        "workers": workers,
        "catalogue_version": catalogue.version,
        "subjects": {"organisations": pop.n_subjects, "persons": pop.n_persons, "total": total},
        "records_total": sum(counts.values()),
        "records_by_resource": dict(sorted(counts.items())),
        "files": files,
    }
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(out / MANIFEST)
    return manifest

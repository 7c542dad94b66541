"""Department registry: seeded from ``default.yaml``, extended by operators."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from xinyong.departments.models import Department
from xinyong.errors import Conflict, InvalidInput, NotFound
from xinyong.identity.codes import check_uscc

DEFAULT_FILE = Path(__file__).with_name("default.yaml")
LEVELS = {"city": "市级", "district": "区县级"}


@dataclass(frozen=True)
class DepartmentIn:
    name: str
    uscc: str
    code: str | None = None
    region: str | None = None
    level: str = "city"
    note: str | None = None


def load_default_departments(path: Path = DEFAULT_FILE) -> list[DepartmentIn]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [DepartmentIn(**{k: (str(v) if v is not None else None) for k, v in d.items()})
            for d in data.get("departments", [])]


def _validated(item: DepartmentIn) -> DepartmentIn:
    name = (item.name or "").strip()
    if not name:
        raise InvalidInput("部门名称不能为空。", code="department_name_required")
    result = check_uscc(item.uscc or "")
    if not result.valid:
        raise InvalidInput(f"部门统一社会信用代码无效：{result.message}", code="invalid_uscc")
    if item.level not in LEVELS:
        raise InvalidInput("部门层级只能是 city（市级）或 district（区县级）。", code="invalid_level")
    region = item.region or result.parts.get("region")
    if region and (len(region) != 6 or not region.isdigit()):
        raise InvalidInput("行政区划代码应为6位数字，例如 440604。", code="invalid_region")
    # Operators may omit the code: derive a stable one from the USCC.
    code = (item.code or f"dept_{result.normalized.lower()}").strip()
    return DepartmentIn(name=name, uscc=result.normalized, code=code, region=region,
                        level=item.level, note=item.note)


def add_department(session: Session, item: DepartmentIn) -> tuple[Department, bool]:
    """Register a department, idempotent by USCC. Returns (department, created)."""
    item = _validated(item)
    existing = session.scalar(select(Department).where(Department.uscc == item.uscc))
    if existing is not None:
        changed = False
        for attr in ("name", "region", "level", "note"):
            new = getattr(item, attr)
            if new is not None and getattr(existing, attr) != new:
                setattr(existing, attr, new)
                changed = True
        if changed:
            _check_unique_name(session, existing.name, existing.id)
            session.flush()
        return existing, False
    clash = session.scalar(select(Department).where(or_(Department.code == item.code,
                                                        Department.name == item.name)))
    if clash is not None:
        raise Conflict(f"部门编码或名称已被占用：{clash.name}（{clash.uscc}）。请更换名称或编码。",
                       code="department_exists")
    dept = Department(code=item.code, name=item.name, uscc=item.uscc, region=item.region,
                      level=item.level, note=item.note)
    session.add(dept)
    session.flush()
    return dept, True


def _check_unique_name(session: Session, name: str, own_id: int) -> None:
    other = session.scalar(select(Department).where(Department.name == name, Department.id != own_id))
    if other is not None:
        raise Conflict(f"部门名称“{name}”已被另一个部门使用（{other.uscc}）。", code="department_exists")


def seed_departments(session: Session, path: Path = DEFAULT_FILE) -> int:
    """Insert the default registry; existing departments are left as the operator set them."""
    created = 0
    known = set(session.scalars(select(Department.uscc)))
    for item in load_default_departments(path):
        if item.uscc in known:
            continue
        _, was_created = add_department(session, item)
        created += was_created
    return created


def list_departments(session: Session) -> list[Department]:
    return list(session.scalars(select(Department).order_by(Department.level, Department.id)))


def find_department(session: Session, ref: str) -> Department:
    """Find by code, USCC or Chinese name (what an operator types on the command line)."""
    ref = (ref or "").strip()
    if not ref:
        raise InvalidInput("请指定部门：部门编码、统一社会信用代码或中文名称。", code="department_required")
    uscc = check_uscc(ref)
    conds = [Department.code == ref, Department.name == ref]
    if uscc.valid:
        conds.append(Department.uscc == uscc.normalized)
    dept = session.scalar(select(Department).where(or_(*conds)))
    if dept is None:
        raise NotFound(f"未找到部门“{ref}”。可用 `xinyong departments list` 查看已登记的部门。",
                       code="department_not_found")
    return dept


def department_to_dict(dept: Department) -> dict:
    return {"code": dept.code, "name": dept.name, "uscc": dept.uscc, "region": dept.region,
            "level": dept.level, "level_label": LEVELS.get(dept.level, dept.level), "note": dept.note}

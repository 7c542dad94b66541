"""The credit information catalogue (信用信息目录): what information exists, who supplies it,
who may see it, for how long, and on what legal basis.

Typical use::

    from xinyong.catalogue import load_catalogue

    catalogue = load_catalogue()               # cached; raises CatalogueError if broken
    penalty = catalogue.get("admin_penalty")   # UnknownResource (a KeyError) if absent
    field = penalty.field_by_header("统一社会信用代码")
"""

from .loader import (
    DEFAULT_DEPARTMENTS_FILE,
    DEFAULT_DIR,
    CatalogueError,
    CatalogueIssue,
    check_catalogue,
    clear_catalogue_cache,
    known_department_codes,
    load_catalogue,
    validate_catalogue,
)
from .schemas import (
    CATEGORIES,
    DISCLOSURES,
    FIELD_TYPES,
    LIST_KINDS,
    POLARITIES,
    SEVERITY_LABELS,
    SUBJECT_KINDS,
    Catalogue,
    CatalogueMeta,
    DisclosureWindow,
    EnumOption,
    ExcludedCategory,
    Field,
    Period,
    Resource,
    SeverityRule,
    SubjectFields,
    UnknownField,
    UnknownResource,
    normalize_header,
)

__all__ = [
    "CATEGORIES",
    "DEFAULT_DEPARTMENTS_FILE",
    "DEFAULT_DIR",
    "DISCLOSURES",
    "FIELD_TYPES",
    "LIST_KINDS",
    "POLARITIES",
    "SEVERITY_LABELS",
    "SUBJECT_KINDS",
    "Catalogue",
    "CatalogueError",
    "CatalogueIssue",
    "CatalogueMeta",
    "DisclosureWindow",
    "EnumOption",
    "ExcludedCategory",
    "Field",
    "Period",
    "Resource",
    "SeverityRule",
    "SubjectFields",
    "UnknownField",
    "UnknownResource",
    "check_catalogue",
    "clear_catalogue_cache",
    "known_department_codes",
    "load_catalogue",
    "normalize_header",
    "validate_catalogue",
]

"""Joint rewards and punishments (联合奖惩): the measures catalogue, embedded checks, batch
checks and feedback.

* ``schemas`` / ``loader`` — the measures catalogue (YAML under ``default/``), validated on load;
* ``service``  — ``check_subject`` (one check), set-based evaluation, feedback and rates;
* ``batch``    — batch checks of uploaded subject lists (CSV/XLSX → XLSX/CSV/JSON results);
* ``api`` / ``pages`` / ``cli`` — thin HTTP, console and command-line faces of the service.
"""

from .loader import MeasuresError, load_measures, validate_measures
from .schemas import MeasureDef, MeasuresCatalogue, Scenario, Trigger

__all__ = ["MeasureDef", "MeasuresCatalogue", "MeasuresError", "Scenario", "Trigger", "load_measures",
           "validate_measures"]

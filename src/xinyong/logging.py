"""Logging set-up: English, one line per event, never personal data.

Every handler carries ``PersonalDataFilter``, so a citizen ID or mobile number that reaches a
log line (an access-log URL, an exception message) is masked before it is written.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from datetime import UTC, datetime

from xinyong.config import get_settings

_CITIZEN_ID = re.compile(r"(?<![0-9A-Za-z])(\d{4})\d{10}(\d{3}[\dXx])(?![0-9A-Za-z])")
_LEGACY_ID = re.compile(r"(?<![0-9A-Za-z])(\d{4})\d{8}(\d{3})(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


#: Each shape above holds eleven digits in a row: text without them has nothing to mask.
_ELEVEN_DIGITS = re.compile(r"\d{11}")


def mask_personal_data(text: str) -> str:
    """Mask anything shaped like a citizen ID (18 or 15 digits) or a mobile number.

    Over-masking (an 18-digit USCC, a 15-digit registration number) is the safe error here.
    Every field of every record a page shows passes here: one scan decides most texts.
    """
    if not _ELEVEN_DIGITS.search(text):
        return text
    text = _CITIZEN_ID.sub(lambda m: m.group(1) + "*" * 10 + m.group(2), text)
    text = _LEGACY_ID.sub(lambda m: m.group(1) + "*" * 8 + m.group(2), text)
    return _MOBILE.sub(lambda m: m.group(1) + "****" + m.group(2), text)


class PersonalDataFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_personal_data(message)
        if masked != message:
            _mask_record(record, masked)
        if record.exc_info and record.exc_info[1] is not None:
            # Tracebacks are formatted later; mask the exception text they will print.
            exc = record.exc_info[1]
            record.exc_text = mask_personal_data(
                logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
            record.msg = f"{record.msg} ({type(exc).__name__})"
        return True


def _mask_record(record: logging.LogRecord, masked: str) -> None:
    """Mask the message and its arguments one by one: formatters that read the arguments
    (uvicorn's access line unpacks five) keep them. Only when that leaves something unmasked
    (a number passed as an int, one split between the text and an argument) is the masked
    message put in their place."""
    if isinstance(record.args, tuple) and record.args and isinstance(record.msg, str):
        msg = mask_personal_data(record.msg)
        args = tuple(mask_personal_data(a) if isinstance(a, str) else a for a in record.args)
        try:
            ok = mask_personal_data(msg % args) == msg % args
        except (TypeError, ValueError):
            ok = False
        if ok:
            record.msg, record.args = msg, args
            return
    record.msg, record.args = masked, None


_EXTRA_FIELDS = ("event", "method", "path", "route", "status", "duration_ms")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, the access fields.
    The finished line passes ``mask_personal_data`` once more (extras included)."""

    def format(self, record: logging.LogRecord) -> str:
        from xinyong.ops.observability import request_id_var

        out: dict = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                     "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        rid = getattr(record, "request_id", None) or request_id_var.get()
        if rid:
            out["request_id"] = rid
        for key in _EXTRA_FIELDS:
            if key in record.__dict__:
                out[key] = record.__dict__[key]
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        return mask_personal_data(json.dumps(out, ensure_ascii=False, default=str))


def configure_logging(level: str | None = None) -> None:
    logging.basicConfig(
        level=(level or get_settings().log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if get_settings().log_format.lower() == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, PersonalDataFilter) for f in handler.filters):
            handler.addFilter(PersonalDataFilter())
    # Migration chatter is not news to an operator running `init`; nor is font subsetting
    # (fontTools logs every glyph list at INFO while a PDF report is made).
    for chatty in ("alembic", "fontTools"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def uvicorn_log_config() -> dict:
    """Uvicorn's own logging config with the personal-data filter on every handler."""
    from uvicorn.config import LOGGING_CONFIG

    cfg = copy.deepcopy(LOGGING_CONFIG)
    cfg["filters"] = {"personal_data": {"()": "xinyong.logging.PersonalDataFilter"}}
    for handler in cfg["handlers"].values():
        handler["filters"] = ["personal_data"]
    if get_settings().log_format.lower() == "json":
        cfg["formatters"]["json"] = {"()": "xinyong.logging.JsonFormatter"}
        for handler in cfg["handlers"].values():
            handler["formatter"] = "json"
    # xinyong.access (xinyong.ops.observability) writes one line per request with its request
    # id and without the query string; uvicorn's own access line would repeat it.
    cfg["loggers"]["uvicorn.access"]["level"] = "WARNING"
    # Application loggers go to the same stream, formatted the same way.
    cfg["loggers"]["xinyong"] = {"handlers": ["default"], "level": get_settings().log_level.upper(),
                                 "propagate": False}
    return cfg

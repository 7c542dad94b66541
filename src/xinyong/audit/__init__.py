"""Audit log (审计日志): an append-only, hash-chained record of every write and every
non-public read. Use ``record_event(session, action, actor=...)`` inside the transaction of
the change it describes."""

from xinyong.audit.service import record_event, verify_chain

__all__ = ["record_event", "verify_chain"]

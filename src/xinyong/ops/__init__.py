"""Operations: backup and restore, observability (logs, metrics, readiness)."""

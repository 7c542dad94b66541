"""Intake (归集): departments' files and rows into versioned credit records.

The rules live in ``service``::

    from xinyong.intake.service import ingest_file, ingest_rows, withdraw_record

    result = ingest_file(engine, "处罚.csv", "admin_penalty", "market_regulation")
    result.rows_accepted, result.rows_rejected, result.error_report

Modules: ``readers`` (CSV/TSV, XLSX, JSON/NDJSON, streamed), ``prepare`` (validation,
normalisation, hashing, encryption — no database), ``store`` (classification and writes, with a
PostgreSQL COPY fast path), ``pipeline`` (the optional reader/validator helper process),
``workdays`` (official calendar), ``reports`` (error reports), ``cli`` and ``api``.
"""

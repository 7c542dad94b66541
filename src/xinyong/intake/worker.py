"""Entry point of the intake helper process (`python -m xinyong.intake.worker`).

A module of its own so that everything the helper sends is pickled under its real module
name (``xinyong.intake.pipeline``), not ``__main__``.
"""

from xinyong.intake.pipeline import worker_main

if __name__ == "__main__":  # pragma: no cover - runs in the helper process
    worker_main()

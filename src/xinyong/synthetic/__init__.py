"""Synthetic city: deterministic, realistic subjects and department files for demo, tests, benchmarks."""

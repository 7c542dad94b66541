from tests.workflows.conftest import cheap_argon2, world  # noqa: F401  (shared fixtures)

"""Accounts: users, roles, department API clients, sessions and the purpose of access.

Other features use three things from here:

- ``require_access(...)`` (``xinyong.accounts.access``): a FastAPI dependency returning the
  ``Actor`` behind a request after checking role, scope, disclosure class and purpose, and
  recording the read in the audit log;
- ``Actor`` (``xinyong.accounts.actor``): who is acting (user, API client, CLI, anonymous);
- ``ROUTE_POLICY`` (``xinyong.accounts.policy``): every route's allowed roles.
"""

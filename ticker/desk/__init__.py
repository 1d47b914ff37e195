"""The news desk (issue 3): sessions, CSRF, login throttling, audit, the two languages,
and the pages editors and admins use. `ticker/routes/desk.py` lists its routes."""

"""The news desk: the pages editors and admins use, their forms, login
throttling, audit and languages. `ticker/routes/desk.py` mounts it at /desk; its
sessions and CSRF tokens are ticker/auth/'s."""

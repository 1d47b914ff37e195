"""Who may do what: API tokens, desk users and their sessions, CSRF.

- `authentication`: who makes an API request (a bearer token, or a desk session with
  its CSRF token) and whether they may publish on a channel;
- `principal`: that answer, and the one rule for channel scopes;
- `sessions`: the desk's sessions and CSRF tokens;
- `origin`: the second CSRF layer, where a request says it comes from;
- `users`: password hashes.
"""

from ticker.auth.authentication import authenticate, require_channel
from ticker.auth.principal import Principal
from ticker.auth.users import hash_password, verify_password
from ticker.model import ROLES

__all__ = [
    "ROLES",
    "Principal",
    "authenticate",
    "hash_password",
    "require_channel",
    "verify_password",
]

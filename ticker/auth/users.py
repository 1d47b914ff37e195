"""User accounts' password hashes: argon2id with argon2-cffi's defaults.

Tokens, by contrast, are stored as SHA-256 digests (ticker/store/store.py): they
carry 256 random bits, so a fast hash is safe for them.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["hash_password", "verify_password"]

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False

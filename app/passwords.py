"""Password hashing for named accounts (argon2id, the library's RFC 9106 parameters) and team passwords.

Checking a password takes the same time whether or not the account exists, so timing does not tell
an attacker which names are real.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_ACCOUNT_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@cache
def _stand_in_hash() -> str:
    """A hash to check against when the name is unknown, so both cases cost one argon2 run."""
    return _hasher.hash("no account has this password")


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; an unknown account (None) costs the same and is False."""
    try:
        return _hasher.verify(password_hash or _stand_in_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """The hash was made with weaker parameters than the library's current ones."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return False


def team_password_proof(key: bytes, password: str) -> str:
    """A keyed fingerprint of a team password, kept with its sessions (never the password itself)."""
    return hmac.new(key, b"team-password:" + password.encode("utf-8"), hashlib.sha256).hexdigest()


def matching_team_password(passwords: list[str], given: str) -> str | None:
    """The configured team password equal to `given`, compared in constant time, or None."""
    found = None
    for password in passwords:
        # Every password is compared, so the time does not say which one (or whether any) matched.
        if hmac.compare_digest(password.encode("utf-8"), given.encode("utf-8")):
            found = password
    return found

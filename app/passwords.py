"""Password hashing for named accounts (argon2id, the library's RFC 9106 parameters) and team passwords.

Checking a password takes the same time whether or not the account exists, so timing does not tell
an attacker which names are real.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_ACCOUNT_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024


class AccountPasswords:
    """Hashes and checks account passwords with one set of argon2 parameters.

    The console and the CLI use ACCOUNT_PASSWORDS; a test may hand create_app cheaper parameters, as it
    hands it a clock, since a hash records its own parameters and any set checks any hash.
    """

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    @cached_property
    def _stand_in_hash(self) -> str:
        """A hash to check against when the name is unknown, so both cases cost one argon2 run."""
        return self.hasher.hash("no account has this password")

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches; an unknown account (None, or no hash) costs the same and is False."""
        try:
            return self.hasher.verify(password_hash or self._stand_in_hash, password) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """The hash was made with other parameters than these (older, weaker ones): hash it again."""
        try:
            return self.hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return False


ACCOUNT_PASSWORDS = AccountPasswords()


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

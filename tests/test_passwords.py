"""Account password hashing (argon2id at the library's RFC 9106 parameters) and team passwords."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from app.passwords import ACCOUNT_PASSWORDS, AccountPasswords, matching_team_password, team_password_proof
from tests.helpers import TEST_PASSWORDS


def test_the_console_hashes_with_argon2id_at_the_rfc_9106_low_memory_parameters():
    made = ACCOUNT_PASSWORDS.hash("correct horse battery staple")
    assert made.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert ACCOUNT_PASSWORDS.verify(made, "correct horse battery staple")
    assert not ACCOUNT_PASSWORDS.verify(made, "correct horse battery stapler")
    assert not ACCOUNT_PASSWORDS.needs_rehash(made)


@pytest.mark.parametrize("stored", [None, "", "not a hash", "$argon2id$v=19$m=65536,t=3,p=4$garbage"])
def test_an_unknown_account_or_a_damaged_hash_never_matches(stored):
    assert TEST_PASSWORDS.verify(stored, "no account has this password") is False
    assert TEST_PASSWORDS.needs_rehash(stored or "not a hash") is False


def test_any_parameters_check_any_hash_and_other_parameters_call_for_a_rehash():
    weaker = AccountPasswords(PasswordHasher(time_cost=2, memory_cost=64, parallelism=1))
    made = weaker.hash("alice-password")
    assert TEST_PASSWORDS.verify(made, "alice-password")  # a hash carries its own parameters
    assert TEST_PASSWORDS.needs_rehash(made) and ACCOUNT_PASSWORDS.needs_rehash(made)
    assert not weaker.needs_rehash(made)


def test_the_team_password_that_matches_and_a_proof_that_is_not_the_password():
    assert matching_team_password(["first-password", "second-password"], "second-password") == "second-password"
    assert matching_team_password(["first-password"], "first-passwor") is None
    assert matching_team_password([], "") is None
    proof = team_password_proof(b"k" * 32, "first-password")
    assert "first-password" not in proof and proof == team_password_proof(b"k" * 32, "first-password")
    assert proof != team_password_proof(b"j" * 32, "first-password")

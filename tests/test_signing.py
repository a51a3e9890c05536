"""Signed console URLs (app/signing.py): bound to purpose, name and expiry; one key per data dir."""

from __future__ import annotations

from app.signing import UrlSigner, load_or_create_secret


def test_a_signature_holds_for_its_purpose_name_and_time_only(tmp_path):
    now = [1000.0]
    signer = UrlSigner(load_or_create_secret(tmp_path), clock=lambda: now[0])
    query = signer.sign("video", "t1", 60)
    assert signer.valid("video", "t1", query["exp"], query["sig"])
    assert not signer.valid("upload", "t1", query["exp"], query["sig"])
    assert not signer.valid("video", "t2", query["exp"], query["sig"])
    assert not signer.valid("video", "t1", str(int(query["exp"]) + 1), query["sig"])
    assert not signer.valid("video", "t1", "9" * 40, query["sig"])
    assert not signer.valid("video", "t1", None, None)
    now[0] += 61
    assert not signer.valid("video", "t1", query["exp"], query["sig"])


def test_the_key_is_made_once_per_data_dir_and_kept_private(tmp_path):
    first = load_or_create_secret(tmp_path)
    assert load_or_create_secret(tmp_path) == first and len(first) == 32
    assert (tmp_path / "console-secret.key").stat().st_mode & 0o077 == 0
    assert load_or_create_secret(tmp_path / "other") != first
    assert load_or_create_secret(tmp_path, "configured") == b"configured"

"""Signed output URLs: anyone holding one may download until it expires; no one else may."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

from app.simulator.signing import UrlSigner
from tests.simulator.support import FakeClock, create, fetch, wait_for


def test_output_urls_are_signed_and_expire(make_client, clock, wall):
    client = make_client(url_ttl_seconds=60)
    task_id = create(client)
    clock.advance(3.0)
    url = wait_for(client, task_id, "SUCCEEDED")["output"][0]
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert int(query["exp"]) == int(wall.now + 60)

    def with_query(**changes: str) -> str:
        return f"{parts.path}?{urlencode({**query, **changes})}"

    assert client.get(url).status_code == 200, "no Authorization header is needed"
    tampered = query["sig"][:-1] + ("0" if query["sig"][-1] != "0" else "1")
    assert client.get(with_query(sig=tampered)).status_code == 403
    assert client.get(with_query(exp=str(int(query["exp"]) + 3600))).status_code == 403
    assert client.get(parts.path).status_code == 403
    other = create(client)
    assert client.get(with_query().replace(task_id, other)).status_code == 403

    wall.advance(61)
    expired = client.get(url)
    assert expired.status_code == 403
    assert "AccessDenied" in expired.text and "Request has expired" in expired.text

    fresh = fetch(client, task_id)["output"][0]
    assert fresh != url
    assert client.get(fresh).status_code == 200


def test_a_signature_holds_for_one_name_and_one_expiry_only():
    wall = FakeClock(1000.0)
    signer = UrlSigner(60, wall)
    query = parse_qs(signer.query("a.mp4"))
    expires, signature = query["exp"][0], query["sig"][0]
    assert expires == "1060"
    assert signer.refusal("a.mp4", expires, signature) is None
    assert signer.refusal("b.mp4", expires, signature) == "Access denied"
    assert signer.refusal("a.mp4", "1061", signature) == "Access denied"
    assert signer.refusal("a.mp4", "", signature) == "Access denied"
    assert signer.refusal("a.mp4", "-1", signature) == "Access denied"
    assert signer.refusal("a.mp4", "١٠٦٠", signature) == "Access denied", "only ASCII digits"
    wall.advance(61)
    assert signer.refusal("a.mp4", expires, signature) == "Request has expired"


def test_each_signer_has_its_own_key():
    wall = FakeClock(1000.0)
    assert UrlSigner(60, wall).sign("a.mp4", 1060) != UrlSigner(60, wall).sign("a.mp4", 1060)

"""Upload slots: signed for one file, used once, size-bounded, expiring on the simulator's wall clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.simulator.uploads import URI_PREFIX, TooManyUploads, UploadRefused, UploadStore
from tests.simulator.support import FakeClock


@pytest.fixture
def wall() -> FakeClock:
    return FakeClock(1_800_000_000.0)


@pytest.fixture
def store(tmp_path: Path, wall: FakeClock) -> UploadStore:
    return UploadStore(tmp_path / "uploads", ttl_seconds=100, max_bytes=1000, wall=wall, max_slots=3)


def test_a_file_received_for_a_slot_is_read_back_by_its_uri(store):
    started = store.start("photo.png")
    assert started.runway_uri.startswith(URI_PREFIX)
    assert store.read(started.runway_uri) is None, "nothing arrived yet"
    store.receive(started.fields, b"bytes")
    assert store.read(started.runway_uri) == b"bytes"


def test_a_slot_takes_one_file_and_only_with_its_own_signature(store):
    one, two = store.start("a.png"), store.start("b.png")
    with pytest.raises(UploadRefused) as caught:
        store.receive({**one.fields, "signature": two.fields["signature"]}, b"x")
    assert caught.value.status == 403
    with pytest.raises(UploadRefused):
        store.receive({"key": "../../etc/passwd", "signature": ""}, b"x")
    store.receive(one.fields, b"x")
    with pytest.raises(UploadRefused):
        store.receive(one.fields, b"y")
    assert store.read(one.runway_uri) == b"x"


def test_a_file_over_the_limit_is_refused_and_not_kept(store, tmp_path):
    started = store.start("big.png")
    with pytest.raises(UploadRefused) as caught:
        store.receive(started.fields, b"x" * 1001)
    assert (caught.value.status, caught.value.code) == (400, "EntityTooLarge")
    assert list((tmp_path / "uploads").iterdir()) == []


def test_uploads_expire_and_their_files_go(store, wall, tmp_path):
    started = store.start("a.png")
    store.receive(started.fields, b"x")
    wall.advance(99)
    assert store.read(started.runway_uri) == b"x"
    wall.advance(1)
    assert store.read(started.runway_uri) is None
    assert list((tmp_path / "uploads").iterdir()) == []
    late = store.start("b.png")
    wall.advance(100)
    with pytest.raises(UploadRefused):
        store.receive(late.fields, b"x")


def test_open_slots_are_bounded_until_some_expire(store, wall):
    for name in "abc":
        store.start(name)
    with pytest.raises(TooManyUploads):
        store.start("d")
    wall.advance(100)
    store.start("d")


@pytest.mark.parametrize("uri", ["runway://uploads/../x", "runway://other/abc", URI_PREFIX + "0" * 32, ""])
def test_unknown_or_malformed_uris_read_as_nothing(store, uri):
    assert store.read(uri) is None

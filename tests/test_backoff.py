"""The one retry-delay rule shared by the upstream client, the poller and the media cache."""

from __future__ import annotations

import pytest

from app.backoff import Backoff


def test_waits_double_from_the_base_up_to_the_cap():
    rule = Backoff(base=0.5, cap=3.0)
    assert [rule.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_longer_retry_after_is_obeyed_within_the_cap_and_a_shorter_one_does_not_hurry_us():
    rule = Backoff(base=1.0, cap=60.0)
    assert rule.delay(1, retry_after=30) == 30
    assert rule.delay(1, retry_after=3600) == 60
    assert rule.delay(3, retry_after=0.5) == 4.0


@pytest.mark.parametrize("failures", [1, 2, 5])
def test_jitter_only_ever_adds_up_to_its_fraction(failures):
    plain, jittered = Backoff(base=0.1, cap=10.0), Backoff(base=0.1, cap=10.0, jitter=0.5)
    delays = [jittered.delay(failures) for _ in range(200)]
    assert min(delays) >= plain.delay(failures)
    assert max(delays) <= plain.delay(failures) * 1.5
    assert len(set(delays)) > 1


def test_a_huge_failure_count_stays_finite():
    assert Backoff(base=2.0, cap=300.0).delay(10_000) == 300.0

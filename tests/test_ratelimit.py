"""The upstream pace (app/ratelimit.py): a smoothed global rate, and a 429 that slows every call, on a
clock the tests move; then the same through UpstreamClient against the fake upstream."""

from __future__ import annotations

import asyncio
import heapq
import itertools

import httpx
import pytest

from app.backoff import Backoff
from app.ratelimit import PaceExceeded, UpstreamPace
from app.upstream import UpstreamClient
from app.upstream_errors import ErrorKind, UpstreamError
from tests.helpers import SECRET

NO_JITTER = Backoff(base=1.0, cap=60.0)


class FakeTime:
    """A monotonic clock that moves only when every coroutine is asleep on it, to the earliest wake-up."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), woken))
        await woken

    def run(self, coro):
        async def drive():
            job = asyncio.ensure_future(coro)
            while not job.done():
                await asyncio.sleep(0.001)  # lets every runnable coroutine (and loopback I/O) go on
                if self._sleepers and not job.done():
                    moment, _, woken = heapq.heappop(self._sleepers)
                    self.now = max(self.now, moment)
                    woken.set_result(None)
            return job.result()

        return asyncio.run(drive())


def pace(rate: float | None, time: FakeTime) -> UpstreamPace:
    return UpstreamPace(rate, backoff=NO_JITTER, clock=time, sleep=time.sleep)


async def departures(limiter: UpstreamPace, time: FakeTime, callers: int) -> list[float]:
    """When each of `callers` concurrent requests was let go."""
    left: list[float] = []

    async def one() -> None:
        await limiter.wait_turn()
        left.append(time.now)

    await asyncio.gather(*(one() for _ in range(callers)))
    return sorted(left)


def most_in_any_second(moments: list[float]) -> int:
    return max(sum(1 for m in moments if start <= m < start + 1.0) for start in moments)


def test_requests_leave_evenly_spaced_and_never_more_than_the_rate_in_any_second():
    time = FakeTime()
    left = time.run(departures(pace(5, time), time, 23))
    gaps = [b - a for a, b in zip(left, left[1:], strict=False)]
    assert left[0] == 100.0  # the first goes at once
    assert min(gaps) == pytest.approx(0.2) and max(gaps) == pytest.approx(0.2)
    assert most_in_any_second(left) == 5


def test_without_a_rate_nothing_waits():
    time = FakeTime()
    assert time.run(departures(pace(None, time), time, 50)) == [100.0] * 50
    assert time.sleeps == []


def test_a_429_pauses_every_request_for_its_retry_after():
    time = FakeTime()
    limiter = pace(10, time)

    async def scenario() -> list[float]:
        await limiter.wait_turn()
        limiter.throttled(retry_after=7)
        return await departures(limiter, time, 3)

    left = time.run(scenario())
    assert left[0] == pytest.approx(107.0)
    assert left == pytest.approx([107.0, 107.1, 107.2])


def test_a_request_already_waiting_for_its_slot_is_held_back_by_a_429_that_arrives_meanwhile():
    time = FakeTime()
    limiter = pace(1, time)

    async def scenario() -> list[float]:
        await limiter.wait_turn()  # t=100; the next slot is 101
        waiting = asyncio.create_task(departures(limiter, time, 1))
        await asyncio.sleep(0)  # it has reserved 101 and sleeps
        limiter.throttled(retry_after=5)  # a 429 for someone else, at t=100
        return await waiting

    assert time.run(scenario()) == [pytest.approx(105.0)]


def test_without_retry_after_the_pause_grows_while_429s_continue_and_starts_over_after_an_answer():
    time = FakeTime()
    limiter = pace(None, time)
    pauses = []
    for _ in range(4):
        limiter.throttled()
        pauses.append(limiter.paused_for)
        time.run(limiter.wait_turn())
    assert pauses == [1.0, 2.0, 4.0, 8.0]
    limiter.answered()
    limiter.throttled()
    assert limiter.paused_for == 1.0


def test_a_caller_that_will_not_wait_that_long_is_told_how_long_instead():
    time = FakeTime()
    limiter = pace(10, time)
    limiter.throttled(retry_after=30)
    with pytest.raises(PaceExceeded) as caught:
        time.run(limiter.wait_turn(max_wait=5))
    assert caught.value.wait == pytest.approx(30)
    assert time.sleeps == []


# --- through the upstream client -----------------------------------------------------------------


def run_client(fake_upstream, time: FakeTime, limiter: UpstreamPace, action):
    async def main():
        async with httpx.AsyncClient() as http:
            client = UpstreamClient(
                http, fake_upstream.api_url, SECRET, retries=3, backoff=0.01, sleep=time.sleep, pace=limiter
            )
            return await action(client)

    return time.run(main())


def test_a_429_on_one_task_slows_the_polls_of_every_other_task(fake_upstream):
    time = FakeTime()
    limiter = pace(100, time)
    first = run_client(fake_upstream, time, limiter, lambda c: c.create_task({"model": "gen4_turbo"})).id
    other = run_client(fake_upstream, time, limiter, lambda c: c.create_task({"model": "gen4_turbo"})).id
    fake_upstream.queue("get", status=429, body="{}", headers={"Retry-After": "3"})
    assert run_client(fake_upstream, time, limiter, lambda c: c.get_task(first))["id"] == first  # retried after 3 s
    assert 3.0 in time.sleeps

    # A longer pause: the other task's poll is not sent at all, and says when to try again.
    fake_upstream.queue("get", status=429, body="{}", headers={"Retry-After": "40"})
    before = len(fake_upstream.calls("GET"))
    with pytest.raises(UpstreamError) as caught:
        run_client(fake_upstream, time, limiter, lambda c: c.get_task(first))
    assert caught.value.kind == ErrorKind.RATE_LIMIT
    sent = len(fake_upstream.calls("GET"))
    assert sent == before + 1  # Retry-After beyond what a call waits for: no retry
    with pytest.raises(UpstreamError) as caught:
        run_client(fake_upstream, time, limiter, lambda c: c.get_task(other))
    assert caught.value.kind == ErrorKind.RATE_LIMIT and caught.value.retry_after == pytest.approx(40)
    assert len(fake_upstream.calls("GET")) == sent  # nothing went upstream for the other task
    time.now += 40
    assert run_client(fake_upstream, time, limiter, lambda c: c.get_task(other))["id"] == other


def test_the_queue_for_our_own_rate_is_never_refused_however_long():
    time = FakeTime()
    limiter = pace(1, time)

    async def patient() -> list[float]:
        left: list[float] = []

        async def one() -> None:
            await limiter.wait_turn(max_wait=5)
            left.append(time.now)

        await asyncio.gather(*(one() for _ in range(12)))
        return left

    assert time.run(patient()) == pytest.approx([100.0 + i for i in range(12)])

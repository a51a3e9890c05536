"""The upstream account (GET /v1/organization), read briefly cached so page loads and API clients
do not each cost an upstream call. Most relays do not offer it: then there is simply no account."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from app.clock import Clock, system_clock
from app.upstream import UpstreamClient
from app.upstream_errors import ErrorKind, UpstreamError

log = logging.getLogger(__name__)

# Answers that mean "this upstream has no such endpoint" rather than "something went wrong".
NOT_OFFERED_STATUSES = frozenset({404, 405, 501})
# An upstream without the endpoint is asked again this much less often.
NOT_OFFERED_CACHE_FACTOR = 10


@dataclass(frozen=True)
class ModelAccount:
    model: str
    max_concurrent: int | None
    max_daily: int | None
    used_today: int

    @property
    def daily_left(self) -> int | None:
        return None if self.max_daily is None else max(0, self.max_daily - self.used_today)


@dataclass(frozen=True)
class Account:
    """What the form shows: the balance and each model's limits and use."""

    credit_balance: float | None
    models: dict[str, ModelAccount] = field(default_factory=dict)
    document: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_document(cls, data: dict[str, Any]) -> Account:
        balance = data.get("creditBalance")
        limits = _mapping(_mapping(data.get("tier")).get("models"))
        used = _mapping(_mapping(data.get("usage")).get("models"))
        models = {}
        for name, limit in limits.items():
            if not isinstance(limit, dict):
                continue
            today = _mapping(used.get(name))
            models[str(name)] = ModelAccount(
                str(name),
                _count(limit.get("maxConcurrentGenerations")),
                _count(limit.get("maxDailyGenerations")),
                _count(today.get("dailyGenerations")) or 0,
            )
        number = balance if isinstance(balance, int | float) and not isinstance(balance, bool) else None
        return cls(number, models, data)


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class AccountCache:
    """One upstream call per `ttl` seconds at most, however many ask at once."""

    def __init__(self, upstream: UpstreamClient, ttl: float, *, clock: Clock = system_clock) -> None:
        self._upstream = upstream
        self._ttl = ttl
        self._clock = clock
        self._lock = asyncio.Lock()
        self._fetched_at: float | None = None
        self._value: Account | None = None
        self._error: UpstreamError | None = None

    async def get(self) -> Account | None:
        """The account, or None when the upstream does not offer it. Raises UpstreamError otherwise."""
        async with self._lock:
            if not self._fresh():
                await self._refresh()
            if self._error is not None:
                raise self._error
            return self._value

    async def get_quietly(self) -> Account | None:
        """The account for a page: any trouble means "show nothing"."""
        try:
            return await self.get()
        except UpstreamError:
            return None

    def _fresh(self) -> bool:
        if self._fetched_at is None:
            return False
        ttl = self._ttl * (NOT_OFFERED_CACHE_FACTOR if self._value is None and self._error is None else 1)
        return self._clock() - self._fetched_at < ttl

    async def _refresh(self) -> None:
        self._value, self._error = None, None
        try:
            self._value = Account.from_document(await self._upstream.get_organization())
        except UpstreamError as error:
            if error.status in NOT_OFFERED_STATUSES or error.kind == ErrorKind.NOT_FOUND:
                log.info("the upstream offers no organization endpoint (HTTP %s)", error.status)
            else:
                self._error = error
        self._fetched_at = self._clock()

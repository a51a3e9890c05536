"""Visitors' own keys (CONSOLE_VISITOR_KEYS): held in this process's memory, one per visitor session, nowhere else.

A key reaches this module from the /key form and leaves it only in the `Authorization` header of the
upstream calls made for its visitor: never the database, a file, a log line, a page or an error (every
answer from the upstream is scrubbed of it, app/upstream.py). After a restart the registry is empty and
the visitor enters the key again; meanwhile their tasks wait (the poller sends nothing for a task whose
owner's key it does not hold, and never falls back to the server's key).

Which upstream a visitor speaks to is one of the operator's CONSOLE_VISITOR_UPSTREAMS (or the console's
own base URL), chosen by position in that list, never typed in: the console is not an open proxy.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field

from app.account import NOT_OFFERED_STATUSES, Account, AccountCache
from app.clock import Clock, system_clock
from app.tasks import VISITOR_OWNER_PREFIX
from app.upstream import UpstreamClient
from app.upstream_errors import ErrorKind, UpstreamError

# The longest key the form takes (Runway keys are ~130 characters, relays' shorter).
MAX_KEY_CHARS = 512


class KeyNeeded(Exception):
    """The task's owner is a visitor whose key this process does not hold (enter it again on /key)."""


@dataclass(frozen=True)
class VisitorKey:
    """One visitor's key, as an upstream client view carrying it. The key itself is not kept apart."""

    session_id: str
    owner: str
    upstream: UpstreamClient = field(repr=False)
    account: AccountCache = field(repr=False)
    expires_at: float


class VisitorKeys:
    """The keys of the visitors of this process, by session id, each until its session ends."""

    def __init__(self, server: UpstreamClient, *, account_ttl: float, clock: Clock = system_clock) -> None:
        self._server = server
        self._account_ttl = account_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._by_session: dict[str, VisitorKey] = {}
        self._by_owner: dict[str, str] = {}

    def client(self, api_key: str, base_url: str | None) -> UpstreamClient:
        """An upstream client speaking with `api_key` to `base_url` (one of the operator's choices; None:
        the console's own upstream)."""
        return self._server.for_key(api_key, base_url)

    def put(self, session_id: str, owner: str, upstream: UpstreamClient, expires_at: float) -> VisitorKey:
        """Hold a visitor's key (as the client `client()` made) until `expires_at` or until forgotten."""
        entry = VisitorKey(
            session_id, owner, upstream, AccountCache(upstream, self._account_ttl, clock=self._clock), expires_at
        )
        with self._lock:
            self._prune()
            self._by_session[session_id] = entry
            self._by_owner[owner] = session_id
        return entry

    def get(self, session_id: str | None) -> VisitorKey | None:
        if session_id is None:
            return None
        with self._lock:
            entry = self._by_session.get(session_id)
            if entry is not None and entry.expires_at <= self._clock():
                self._drop(session_id)
                return None
            return entry

    def for_owner(self, owner: str) -> VisitorKey | None:
        with self._lock:
            session_id = self._by_owner.get(owner)
        return self.get(session_id)

    def forget(self, session_id: str) -> None:
        """Drop a visitor's key (on "Forget my key", logout, or the end of the session)."""
        with self._lock:
            self._drop(session_id)

    def count(self) -> int:
        """How many keys are held (a method, not __len__: an empty registry must not read as "no registry")."""
        with self._lock:
            self._prune()
            return len(self._by_session)

    def _drop(self, session_id: str) -> None:
        entry = self._by_session.pop(session_id, None)
        if entry is not None and self._by_owner.get(entry.owner) == session_id:
            del self._by_owner[entry.owner]

    def _prune(self) -> None:
        now = self._clock()
        for session_id in [s for s, e in self._by_session.items() if e.expires_at <= now]:
            self._drop(session_id)


class UpstreamFor:
    """Which upstream client, and so which key, speaks for a task's owner.

    A visitor's task: that visitor's key, or None while the process does not hold it (the caller then
    sends nothing). Any other owner (the team, an account, an API token, a task from before owners): the
    server's key.
    """

    def __init__(self, server: UpstreamClient, visitors: VisitorKeys | None) -> None:
        self.server = server
        self.visitors = visitors

    def __call__(self, owner: str | None) -> UpstreamClient | None:
        if owner is not None and owner.startswith(VISITOR_OWNER_PREFIX):
            entry = self.visitors.for_owner(owner) if self.visitors is not None else None
            return entry.upstream if entry is not None else None
        return self.server


@dataclass(frozen=True)
class KeyCheck:
    """What the upstream said of a key: fine (with the account when it has one), or why not."""

    error: UpstreamError | None
    account: Account | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


async def check_key(upstream: UpstreamClient) -> KeyCheck:
    """Ask the upstream, as cheaply as it allows, whether the client's key is accepted.

    `GET /v1/organization` where the upstream has it (the official API): 200 is a good key, 401/403 a
    bad one. Relays without it (404/405/501) are asked `GET /v1/tasks/<random uuid>`: 404 means the key
    was accepted and the (made-up) task is unknown, 401/403 a bad key. Neither call creates or costs anything.
    """
    try:
        return KeyCheck(None, Account.from_document(await upstream.get_organization()))
    except UpstreamError as error:
        if error.kind == ErrorKind.AUTH or error.status not in NOT_OFFERED_STATUSES:
            return KeyCheck(error)
    try:
        await upstream.get_task(str(uuid.uuid4()))
    except UpstreamError as error:
        if error.kind == ErrorKind.NOT_FOUND:
            return KeyCheck(None)
        return KeyCheck(error)
    return KeyCheck(None)  # a relay that invents tasks: the key got past its door all the same

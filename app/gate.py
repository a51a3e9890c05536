"""The console's one authority on who is logged in: sessions, password checks, and hourly caps.

Its state lives in the auth store (app/auth_store.py), so replicas over one database agree. The guard
(app/auth.py) asks it for each request's Access; the login and key forms open and close sessions
through it; task starts are counted against CONSOLE_TASKS_PER_HOUR here.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from starlette.types import Scope

from app.access import Access, Principal, PrincipalKind, account_owner, browser_owner, visitor_owner
from app.auth_store import AuthStore, StoredSession
from app.client import client_address
from app.clock import Clock
from app.config import Settings
from app.login_lockout import FAILURES_FORGOTTEN_AFTER, count_failure, seconds_blocked
from app.passwords import AccountPasswords, matching_team_password, team_password_proof
from app.sessions import (
    BROWSER_COOKIE,
    SESSION_COOKIE,
    new_token,
    request_cookies,
    sign,
    token_id,
    unsign,
    valid_browser_token,
)
from app.visitor_keys import VisitorKeys

TASK_WINDOW_SECONDS = 60 * 60


@dataclass(frozen=True)
class LoginResult:
    principal_kind: PrincipalKind | None
    account: str | None = None
    proof: str | None = None


class Gate:
    """Sessions, logins, lockouts and hourly caps for the whole console (state in the store)."""

    def __init__(
        self,
        settings: Settings,
        store: AuthStore,
        key: bytes,
        clock: Clock,
        passwords: AccountPasswords,
        visitors: VisitorKeys | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.key = key
        self.clock = clock
        self.passwords = passwords
        # Set in visitor-keys mode: a visitor's key lives there, under their session's id.
        self.visitors = visitors
        self.team_proofs = {team_password_proof(key, p) for p in settings.team_passwords}

    # --- each request ---------------------------------------------------------------------------

    def login_required(self) -> bool:
        # Read each time: `runway-console user add` on a running console takes effect at once.
        return bool(self.settings.team_passwords) or self.store.has_accounts()

    def history_private(self, accounts_exist: bool) -> bool:
        if self.settings.visitor_keys:
            return True  # config.py refuses CONSOLE_HISTORY=shared in this mode
        if self.settings.history is not None:
            return self.settings.history == "private"
        return accounts_exist

    def access_for(self, scope: Scope) -> tuple[Access, str | None]:
        """The request's Access, and a new browser token to set when the browser had none."""
        cookies = request_cookies(scope)
        accounts_exist = self.store.has_accounts()
        login_required = bool(self.settings.team_passwords) or accounts_exist
        private = self.history_private(accounts_exist)
        browser = cookies.get(BROWSER_COOKIE)
        new_browser = None
        if not valid_browser_token(browser):
            browser = new_token()
            # Only handed out when it decides something: whose tasks (private) or whose hourly count.
            if private or self.settings.tasks_per_hour is not None:
                new_browser = browser
        browser_id = browser_owner(str(browser))
        # A script without cookies gets a new browser id each time: its cap counts by address, and
        # while history is shared its tasks stay the team's rather than a throwaway id's.
        had_browser_id = new_browser is None and valid_browser_token(cookies.get(BROWSER_COOKIE))
        quota_key = browser_id if had_browser_id else f"address:{client_address(scope)}"
        owner_by_browser = browser_id if private or had_browser_id else None
        principal: Principal | None = None
        session = self._session(cookies.get(SESSION_COOKIE)) if login_required or self.visitors is not None else None
        if self.visitors is not None and session is not None and session.kind == PrincipalKind.VISITOR:
            # With a login configured, a visitor session also carries the login it was opened under.
            if not login_required or session.account or session.proof:
                owner = visitor_owner(session.id)
                principal = Principal(
                    PrincipalKind.VISITOR, owner=owner, quota_key=owner, account=session.account, session_id=session.id
                )
                held = self.visitors.get(session.id) is not None
                return Access(principal, login_required, private, visitor_mode=True, key_held=held), new_browser
        if not login_required:
            principal = Principal(PrincipalKind.ANONYMOUS, owner=owner_by_browser, quota_key=quota_key)
        else:
            if session is not None and session.kind == PrincipalKind.ACCOUNT and session.account:
                owner = account_owner(session.account)
                principal = Principal(
                    PrincipalKind.ACCOUNT, owner=owner, quota_key=owner, account=session.account, session_id=session.id
                )
            elif session is not None and session.kind == PrincipalKind.TEAM:
                principal = Principal(
                    PrincipalKind.TEAM, owner=owner_by_browser, quota_key=quota_key, session_id=session.id
                )
        return Access(principal, login_required, private, visitor_mode=self.visitors is not None), new_browser

    def _session(self, cookie: str | None) -> StoredSession | None:
        token = unsign(self.key, cookie)
        if token is None:
            return None
        session = self.store.session(token_id(token), self.clock())
        if session is None:
            return None
        if session.kind == PrincipalKind.TEAM and session.proof not in self.team_proofs:
            return None  # opened with a team password that is no longer configured
        if session.kind == PrincipalKind.VISITOR and session.proof and session.proof not in self.team_proofs:
            return None
        return session

    # --- logging in -----------------------------------------------------------------------------

    def blocked_for(self, client: str) -> float:
        """Seconds this client must wait before trying a password again (0: it may try now)."""
        return seconds_blocked(self.store, client, self.clock())

    def record_failure(self, client: str) -> float:
        """Count a wrong password (app/login_lockout.py); returns how long the client must now wait."""
        now = self.clock()
        wait = count_failure(self.store, client, now)
        # Guesses from many addresses must not grow the table for ever.
        self._prune(now)
        return wait

    async def check_password(self, username: str, password: str) -> LoginResult:
        """Which login a name and password open (the kind is None when they open none)."""
        if username:
            found = self.store.password_hash(username)
            stored_hash = found[1] if found else None
            ok = await anyio.to_thread.run_sync(self.passwords.verify, stored_hash, password)
            if not ok or found is None:
                return LoginResult(None)
            name = found[0]
            if self.passwords.needs_rehash(found[1]):
                self.store.update_hash(name, await anyio.to_thread.run_sync(self.passwords.hash, password))
            return LoginResult(PrincipalKind.ACCOUNT, account=name)
        matched = matching_team_password(self.settings.team_passwords, password)
        if matched is None:
            return LoginResult(None)
        return LoginResult(PrincipalKind.TEAM, proof=team_password_proof(self.key, matched))

    def open_session(self, client: str, result: LoginResult) -> str:
        """Record a session for a successful login; returns the signed cookie value."""
        assert result.principal_kind is not None
        now = self.clock()
        self._forgive(client, now)
        token = new_token()
        self.store.add_session(
            StoredSession(
                id=token_id(token),
                kind=result.principal_kind.value,
                account=result.account,
                proof=result.proof,
                created_at=now,
                expires_at=now + self.session_seconds,
            )
        )
        return sign(self.key, token)

    def open_visitor_session(self, client: str, login: Principal | None) -> tuple[str, StoredSession]:
        """A visitor session (for a visitor who has just entered a good key); returns (signed cookie, session).

        It replaces the login session it was opened from (team password or account), keeping what that
        login was, so that changing the password or removing the account ends it as well.
        """
        now = self.clock()
        self._forgive(client, now)
        account, proof, expires_at = None, None, now + self.settings.visitor_session_hours * 3600
        if login is not None and login.session_id is not None:
            previous = self.store.session(login.session_id, now)
            if previous is not None:
                account, proof = previous.account, previous.proof
                expires_at = min(expires_at, previous.expires_at)
                self.store.remove_session(previous.id)
        token = new_token()
        session = StoredSession(
            id=token_id(token),
            kind=PrincipalKind.VISITOR.value,
            account=account,
            proof=proof,
            created_at=now,
            expires_at=expires_at,
        )
        self.store.add_session(session)
        return sign(self.key, token), session

    def _forgive(self, client: str, now: float) -> None:
        """A client got in: its wrong guesses no longer count against it."""
        self.store.clear_failures(client)
        self._prune(now)

    def _prune(self, now: float) -> None:
        self.store.prune(now, FAILURES_FORGOTTEN_AFTER, TASK_WINDOW_SECONDS)

    def session_by_id(self, session_id: str) -> StoredSession | None:
        return self.store.session(session_id, self.clock())

    def close_session(self, cookie: str | None) -> None:
        """End the session in the store and, for a visitor, drop their key from memory."""
        token = unsign(self.key, cookie)
        if token is not None:
            self.store.remove_session(token_id(token))
            if self.visitors is not None:
                self.visitors.forget(token_id(token))

    @property
    def session_seconds(self) -> int:
        return int(self.settings.session_hours * 3600)

    # --- the hourly cap -------------------------------------------------------------------------

    def reserve_task(self, principal: Principal) -> tuple[float | None, float]:
        """Count a task start against CONSOLE_TASKS_PER_HOUR.

        Returns (seconds to wait when over the cap else None, the reservation's time for release).
        """
        now = self.clock()
        limit = self.settings.tasks_per_hour
        if limit is None:
            return None, now
        return self.store.reserve_task_start(principal.quota_key, now, limit, TASK_WINDOW_SECONDS), now

    def release_task(self, principal: Principal, at: float) -> None:
        if self.settings.tasks_per_hour is not None:
            self.store.release_task_start(principal.quota_key, at)

"""Who is making a request and what they may see: the principal, the guard's decision, task owners.

The guard (app/auth.py) decides an `Access` for every request it lets through; handlers read it through
deps.AccessDep. Owners are the ids stored on each task ("account:<name>", "visitor:<hash>" or
"browser:<hash>"); private history shows a viewer only their own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from app.tasks import VISITOR_OWNER_PREFIX, TaskRecord


class PrincipalKind(StrEnum):
    ANONYMOUS = "anonymous"  # no login configured: whoever reaches the console, told apart by browser
    TEAM = "team"  # logged in with a shared CONSOLE_PASSWORD
    ACCOUNT = "account"  # logged in as a named account
    VISITOR = "visitor"  # a visitor with their own key (identified by their session)


@dataclass(frozen=True)
class Principal:
    """Who is making the request."""

    kind: PrincipalKind
    # Whose tasks they are: "account:<name>", "visitor:<session id>" or "browser:<id>" (team logins
    # and no login at all are told apart per browser). Stored on each task they create. None: the
    # team's, for a cookie-less script while history is shared.
    owner: str | None
    # What the hourly cap counts: the owner, or the client address for a cookie-less script.
    quota_key: str
    account: str | None = None
    # The stored session's id: a visitor's key is kept in server memory under it.
    session_id: str | None = None

    @property
    def logged_in(self) -> bool:
        return self.session_id is not None


@dataclass(frozen=True)
class Access:
    """What the guard decided for one request; routes read it through deps.AccessDep."""

    principal: Principal | None  # None: a login is required and there is no valid session
    login_required: bool
    private: bool  # CONSOLE_HISTORY, resolved
    # CONSOLE_VISITOR_KEYS: every guarded route needs a visitor session (entered on /key).
    visitor_mode: bool = False
    # Whether this process holds the visitor's key (not after a restart, until they enter it again).
    key_held: bool = False

    @property
    def is_visitor(self) -> bool:
        return self.principal is not None and self.principal.kind == PrincipalKind.VISITOR

    @property
    def key_required(self) -> bool:
        """Visitor-keys mode and no visitor session yet: the guarded routes send them to /key."""
        return self.visitor_mode and not self.is_visitor

    @property
    def key_missing(self) -> bool:
        """A visitor whose key this process does not hold: nothing can be sent for them until they enter it."""
        return self.visitor_mode and self.is_visitor and not self.key_held

    @property
    def viewer(self) -> str | None:
        """The owner filter for listings: None sees everything (shared history)."""
        if not self.private:
            return None
        return self.principal.owner if self.principal else "nobody"

    @property
    def logged_in(self) -> bool:
        return self.principal is not None and self.principal.logged_in

    def can_see(self, task: TaskRecord) -> bool:
        """Shared history: every task. Private: one's own, and those from before owners existed."""
        return self.can_see_owner(task.owner)

    def can_see_owner(self, owner: str | None) -> bool:
        """can_see for a task known only by its owner (the status poll answers from memory)."""
        viewer = self.viewer
        return viewer is None or owner is None or owner == viewer


def owner_hash(text: str) -> str:
    """An owner id's opaque part: what identifies a browser or a session is never stored as it is."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def browser_owner(browser_token: str) -> str:
    """The owner of the tasks made from one browser (no login, or a shared team password)."""
    return f"browser:{owner_hash(browser_token)}"


def account_owner(account: str) -> str:
    """The owner of a named account's tasks (account names are case-insensitive)."""
    return f"account:{account.lower()}"


def visitor_owner(session_id: str) -> str:
    """The owner of a visitor's tasks: their session, hashed (the store's session id is never shown)."""
    return f"{VISITOR_OWNER_PREFIX}{owner_hash(session_id)}"

"""Read-only share links: an unguessable token in the URL (`/s/{token}`) that points at one task or one comparison.

A target has at most one live link: sharing again shows the same link, revoking it makes every
URL under it answer 404, and sharing after a revoke makes a new token. The token is the only
credential, so it comes from `secrets` and is compared by a database lookup, never listed.
"""

from __future__ import annotations

import re
import secrets

from app.clock import Clock, system_clock
from app.comparisons import Comparison
from app.storage import Share, ShareKind, ShareStore, TaskStore
from app.tasks import TaskRecord

TOKEN_BYTES = 24
# token_urlsafe(24): 24 random bytes as 32 URL-safe base64 characters.
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32}$")


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_token(text: str) -> bool:
    return bool(TOKEN_PATTERN.match(text))


class Sharing:
    def __init__(self, store: ShareStore, *, clock: Clock = system_clock) -> None:
        self.store = store
        self.clock = clock

    def link_for(self, kind: ShareKind, target_id: str) -> Share | None:
        """The target's live link, if it has one."""
        return self.store.active_share(kind, target_id)

    def share(self, kind: ShareKind, target_id: str) -> Share:
        """The target's live link, made now if it has none."""
        existing = self.store.active_share(kind, target_id)
        if existing is not None:
            return existing
        return self.store.add_share(Share(new_token(), kind, target_id, self.clock()))

    def revoke(self, kind: ShareKind, target_id: str) -> bool:
        """Revoke the target's link; False when it had none."""
        return self.store.revoke_shares(kind, target_id, self.clock()) > 0

    def resolve(self, token: str, kind: ShareKind) -> Share | None:
        """The live link with this token pointing at a `kind`, or None (malformed, unknown, revoked, other kind)."""
        if not is_token(token):
            return None
        share = self.store.share(token)
        return share if share is not None and share.kind == kind else None


def shared_task(sharing: Sharing, store: TaskStore, token: str) -> TaskRecord | None:
    """The task a live link points at, or None (malformed, unknown, revoked, a comparison's link)."""
    share = sharing.resolve(token, ShareKind.TASK)
    return store.get(share.target_id) if share else None


def shared_comparison(sharing: Sharing, store: TaskStore, token: str) -> Comparison | None:
    """The comparison a live link points at, or None (malformed, unknown, revoked, a task's link)."""
    share = sharing.resolve(token, ShareKind.COMPARISON)
    return store.get_comparison(share.target_id) if share else None

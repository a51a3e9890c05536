"""How pytest-xdist hands the suite to its workers (scripts/test runs `--dist loadscope`).

A browser module runs whole on one worker, one test after another with one Chromium (its fixture is
module-scoped); every other test is a unit of its own, so the workers stay evenly busy to the end
instead of waiting on whoever drew the longest file. Larger units go first (xdist's default
reordering): the browser modules start at once and the one-test units fill in around them.
(xdist_group marks would say the same, but pytest-xdist 3.8 ignores them under pytest 9.)
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

BROWSER_TESTS = "tests/browser/"


class BrowserModulesTogether(LoadScopeScheduling):
    """Load-scope scheduling where the scope is the file for browser tests and the test otherwise."""

    def _split_scope(self, nodeid: str) -> str:
        path = nodeid.split("::", 1)[0]
        return path if path.startswith(BROWSER_TESTS) else nodeid

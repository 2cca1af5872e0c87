"""All authorization rules: can_<verb>(user, obj) predicates used by views and templates.

The public roadmap needs no rule yet: every published page is open to everyone. Predicates
arrive here with the first thing that is not public (accounts, drafts, moderation).
"""

from __future__ import annotations

from flask import abort


def require(allowed: bool) -> None:
    """Abort with 403 unless the predicate allowed the action."""
    if not allowed:
        abort(403)

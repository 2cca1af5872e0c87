"""A request says that a person's participation is complete (a ballot cast, a survey sent).

Features call `participation_done` after their commit; whoever cares (the kiosk ends its
session then) reads it in an after-request hook. The kernel knows neither side.
"""

from __future__ import annotations

from flask import g

KINDS = ("ballot", "survey")


def participation_done(kind: str) -> None:
    """Mark this request as having completed a participation of this kind."""
    if kind not in KINDS:
        raise ValueError(f"unknown participation {kind!r}")
    g.participation_done = kind


def completed_participation() -> str | None:
    """Return the kind of participation this request completed, if any."""
    value = g.get("participation_done")
    return value if value in KINDS else None

"""The survey settings read from the app config, each clamped to what keeps the promise."""

from __future__ import annotations

from flask import current_app


def min_group_size() -> int:
    """Return k, the smallest group any published number may describe."""
    return max(2, int(current_app.config["SURVEY_MIN_GROUP_SIZE"]))


def flush_batch_size() -> int:
    """Return how many staged submissions are moved together (never fewer than k)."""
    return max(min_group_size(), int(current_app.config["SURVEY_FLUSH_BATCH"]))


def flush_max_hours() -> float:
    """Return how long a staged answer set may wait before a short flush moves it."""
    return max(0.0, float(current_app.config.get("SURVEY_FLUSH_MAX_HOURS", 24)))


def dp_epsilon() -> float | None:
    """Return ε per released count with differential privacy on, else None."""
    epsilon = current_app.config.get("SURVEY_DP_EPSILON")
    return float(epsilon) if epsilon else None


def dp_budget() -> float:
    """Return the total ε all releases of one survey may spend."""
    return max(0.0, float(current_app.config.get("SURVEY_DP_BUDGET", 10.0)))

"""Panels other features add to the project page (discussion, ratings, events).

The project page shows what several features know about a project. Those features depend on
projects, so projects must not import them back: each registers a provider here when its module
is loaded (the app factory loads them all), and the page asks every provider for its template
context. One provider per feature; their context keys do not overlap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kldialog.projects.models import Project

Provider = Callable[[Project], dict[str, Any]]
_providers: list[Provider] = []


def register(provider: Provider) -> Provider:
    """Add a provider of project-page context (a decorator; registering twice is a no-op)."""
    if provider not in _providers:
        _providers.append(provider)
    return provider


def context_for(project: Project) -> dict[str, Any]:
    """Return the template context of every registered panel for this project."""
    context: dict[str, Any] = {}
    for provider in _providers:
        context.update(provider(project))
    return context

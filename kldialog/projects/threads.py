"""A project's discussion thread: open it, find the project of a thread."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kldialog.kernel.db import db
from kldialog.projects.models import Project

# The comment pages find a thread's project by its address through this module.
from kldialog.projects.reading import get_project_by_slug as get_project_by_slug


def thread_of(project: Project, create: bool = False) -> Any:
    """Return the project's discussion thread; with create, open one if it has none (no commit)."""
    if project.thread is None and create:
        from kldialog.comments.services import open_thread

        project.thread = open_thread("project")
        db.session.flush()
    return project.thread


def project_of_thread(thread_id: int) -> Project | None:
    """Return the project that owns a discussion thread."""
    return db.session.scalar(sa.select(Project).where(Project.thread_id == thread_id))


def thread_slugs(thread_ids: Any) -> dict[int, str]:
    """Return {thread id: project slug} for these threads (one query)."""
    rows = db.session.execute(
        sa.select(Project.thread_id, Project.slug).where(Project.thread_id.in_(list(thread_ids)))
    )
    return {thread_id: slug for thread_id, slug in rows if thread_id is not None}

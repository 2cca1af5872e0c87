"""Following projects: follow, unfollow, one-click unsubscribe links, mail to followers."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

import sqlalchemy as sa
from flask import current_app, url_for
from flask_babel import lazy_gettext as _l
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy.exc import IntegrityError

from kldialog.auth.models import User
from kldialog.kernel.db import affected_rows, db
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.mail import send_mail
from kldialog.kernel.secretbox import same_secret
from kldialog.kernel.time import utcnow
from kldialog.projects.models import (
    Project,
    ProjectFollow,
    Visibility,
)
from kldialog.projects.rules import MAX_ID
from kldialog.templating import LocalizedLater

log = logging.getLogger(__name__)


def followed_projects_export(user: Any) -> list[dict[str, Any]]:
    """Return the projects a person follows, for their data export."""
    follows = db.session.scalars(
        sa.select(ProjectFollow)
        .where(ProjectFollow.user_id == user.id)
        .order_by(ProjectFollow.created_at)
    )
    return [
        {"project": f.project.title, "slug": f.project.slug, "since": f.created_at.isoformat()}
        for f in follows
    ]


def erase_follows(user: Any) -> None:
    """Delete a person's follows (account deletion)."""
    db.session.execute(sa.delete(ProjectFollow).where(ProjectFollow.user_id == user.id))


def is_following(user: Any, project: Project) -> bool:
    """Return whether a logged-in person follows a project."""
    if not getattr(user, "is_authenticated", False):
        return False
    return (
        db.session.scalar(
            sa.select(ProjectFollow.user_id).where(
                ProjectFollow.user_id == user.id, ProjectFollow.project_id == project.id
            )
        )
        is not None
    )


def followed_projects(user: Any) -> list[Project]:
    """Return the public projects a person follows, by title, in one query."""
    return list(
        db.session.scalars(
            sa.select(Project)
            .join(ProjectFollow, ProjectFollow.project_id == Project.id)
            .where(ProjectFollow.user_id == user.id, Project.state != Visibility.draft)
            .order_by(Project.title, Project.id)
        )
    )


def follow_project(user: Any, project: Project) -> bool:
    """Follow a project; return False if the person already followed it.

    A plain INSERT rather than session.add: two parallel clicks both try it, the primary key
    lets one win, and the other is simply "already following".
    """
    try:
        db.session.execute(
            sa.insert(ProjectFollow).values(
                user_id=user.id, project_id=project.id, created_at=utcnow()
            )
        )
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


def unfollow_project(user: Any, project: Project) -> bool:
    """Stop following a project; return False if the person did not follow it."""
    result = db.session.execute(
        sa.delete(ProjectFollow).where(
            ProjectFollow.user_id == user.id, ProjectFollow.project_id == project.id
        )
    )
    db.session.commit()
    return bool(affected_rows(result))


def _follow_fingerprint(since: dt.datetime) -> str:
    """Digest the moment a follow began: a link from an earlier follow stops working."""
    if since.tzinfo is not None:  # PostgreSQL returns aware datetimes, SQLite naive UTC ones
        since = since.astimezone(dt.UTC).replace(tzinfo=None)
    return hashlib.sha256(since.isoformat().encode()).hexdigest()[:16]


def _unsubscribe_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="kldialog-unsubscribe")


def unsubscribe_token(user_id: int, project_id: int, since: dt.datetime) -> str:
    """Sign (person, project, start of the follow) for the one-click unsubscribe link.

    It never expires (old mails must keep working) but works once: after unfollowing, or
    after following again, the follow it names no longer exists.
    """
    return _unsubscribe_serializer().dumps([user_id, project_id, _follow_fingerprint(since)])


def follow_for_token(token: str) -> ProjectFollow:
    """Return the follow an unsubscribe link stands for; RuleViolation if wrong or used."""
    invalid = RuleViolation(
        _l(
            "This unsubscribe link is not valid. Please check that it is complete, or log in "
            "and manage the projects you follow in your account."
        )
    )
    if len(token) > 300:
        raise invalid
    try:
        data = _unsubscribe_serializer().loads(token)
    except BadData as error:
        raise invalid from error
    if not (
        isinstance(data, list)
        and len(data) == 3
        and all(type(value) is int and 0 < value <= MAX_ID for value in data[:2])
        and isinstance(data[2], str)
    ):
        raise invalid
    user_id, project_id, fingerprint = data
    follow = db.session.get(ProjectFollow, (user_id, project_id))
    if follow is None or not same_secret(fingerprint, _follow_fingerprint(follow.created_at)):
        raise RuleViolation(
            _l("This link has already been used: you get no more e-mail about this project.")
        )
    return follow


def unsubscribe(token: str) -> Project:
    """Unfollow with a link from a mail (no login: the signed token is the permission)."""
    follow = follow_for_token(token)
    project = follow.project
    db.session.execute(
        sa.delete(ProjectFollow).where(
            ProjectFollow.user_id == follow.user_id,
            ProjectFollow.project_id == follow.project_id,
        )
    )
    db.session.commit()
    return project


def notify_followers(project: Project, subject: Any, template: str, **context: Any) -> int:
    """Mail every follower of a public project in their language; return how many were sent.

    One query loads the recipients with everything the mail needs. Deleted accounts and
    addresses never confirmed get nothing. A failing mail is logged and skipped: the change
    it announces is already saved and the other followers should still hear of it.
    """
    project_id, slug, state = project.id, project.slug, project.state
    title = LocalizedLater(project, "title")
    if state is Visibility.draft:
        return 0
    recipients = db.session.execute(
        sa.select(User.id, User.email, User.display_name, User.language, ProjectFollow.created_at)
        .join(ProjectFollow, ProjectFollow.user_id == User.id)
        .where(
            ProjectFollow.project_id == project_id,
            User.deleted_at.is_(None),
            User.email_confirmed_at.is_not(None),
            User.email.is_not(None),
        )
        .order_by(User.id)
    ).all()
    project_url = url_for("projects.detail", slug=slug, _external=True)
    sent = 0
    for user_id, email, name, language, since in recipients:
        if email is None:  # the query excludes these; this tells the type checker
            continue
        url = url_for(
            "projects.unsubscribe",
            token=unsubscribe_token(user_id, project_id, since),
            _external=True,
        )
        try:
            send_mail(
                email,
                subject,
                template,
                language=language or current_app.config["BABEL_DEFAULT_LOCALE"],
                headers={
                    "List-Unsubscribe": f"<{url}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
                name=name,
                project_title=title,
                project_url=project_url,
                unsubscribe_url=url,
                **context,
            )
        except Exception:
            log.exception("Could not mail follower %s about project %s", user_id, project_id)
        else:
            sent += 1
    return sent

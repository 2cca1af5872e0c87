"""`flask notices queue-due`: queue mails for rounds and surveys that opened, and the digest.

Producers only write rows; `flask mail send-due` sends them. The unique (person, key)
constraint on queued_mail makes every run idempotent: a round, a survey or a week is queued at
most once per person, however often cron runs or overlaps.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from flask import current_app, url_for

from kldialog.auth.models import User
from kldialog.comments.models import Comment, CommentStatus
from kldialog.kernel.db import db
from kldialog.kernel.time import utcnow
from kldialog.notices.models import NoticeKind, NoticePreference, QueuedMail
from kldialog.priorities.models import PriorityRound, RoundState
from kldialog.projects.models import (
    Project,
    ProjectFollow,
    ProjectStatusChange,
    ProjectUpdate,
    Visibility,
)
from kldialog.surveys.models import Survey, SurveyState
from kldialog.windows.models import Eligibility


def queue_due(now: dt.datetime | None = None) -> dict[str, int]:
    """Queue opening notices and, on the digest weekday, the weekly digest; commit."""
    now = now or utcnow()
    queued = {"openings": queue_openings(now), "digest": 0}
    if now.weekday() == current_app.config["NOTICES_DIGEST_WEEKDAY"]:
        queued["digest"] = queue_digest(now)
    db.session.commit()
    return queued


def _recipients(kind: NoticeKind, now: dt.datetime, verified_only: bool = False) -> sa.Select[Any]:
    """Accounts that opted in to `kind` and may take part now (confirmed, not blocked)."""
    wanted = NoticePreference.openings if kind == NoticeKind.openings else NoticePreference.digest
    query = (
        sa.select(User.id)
        .join(NoticePreference, NoticePreference.user_id == User.id)
        .where(
            wanted.is_(True),
            User.deleted_at.is_(None),
            User.email.is_not(None),
            User.email_confirmed_at.is_not(None),
            sa.or_(User.blocked_until.is_(None), User.blocked_until <= now),
        )
    )
    return query.where(User.is_verified.is_(True)) if verified_only else query


def _queue(kind: NoticeKind, key: str, payloads: dict[int, dict[str, Any]]) -> int:
    """Insert one mail per person in `payloads` unless (person, key) is queued already."""
    if not payloads:
        return 0
    have = set(
        db.session.scalars(
            sa.select(QueuedMail.user_id).where(
                QueuedMail.dedupe_key == key, QueuedMail.user_id.in_(list(payloads))
            )
        )
    )
    now = utcnow()
    rows = [
        {
            "user_id": user_id,
            "kind": kind,
            "dedupe_key": key,
            "payload": payload,
            "next_attempt_at": now,
            "created_at": now,
        }
        for user_id, payload in payloads.items()
        if user_id not in have
    ]
    if rows:
        db.session.execute(sa.insert(QueuedMail), rows)
    return len(rows)


def queue_openings(now: dt.datetime) -> int:
    """Queue a mail per opted-in eligible person for each round or survey opened lately.

    "Lately" is NOTICES_OPENED_WITHIN_HOURS, longer than the cron interval, so a missed run
    is caught up; the unique key keeps the overlap from sending twice.
    """
    since = now - dt.timedelta(hours=current_app.config["NOTICES_OPENED_WITHIN_HOURS"])
    count = 0
    rounds = db.session.scalars(
        sa.select(PriorityRound).where(
            PriorityRound.state == RoundState.published,
            PriorityRound.opens_at > since,
            PriorityRound.opens_at <= now,
            PriorityRound.closes_at > now,
        )
    )
    for round_ in rounds:
        payload = {
            "type": "round",
            "title": round_.title,
            "title_en": round_.title_en,
            "closes_at": round_.closes_at.isoformat(),
            "url": url_for("priorities.show", round_id=round_.id, _external=True),
        }
        verified = round_.eligibility == Eligibility.verified
        count += _queue_all(NoticeKind.openings, f"round:{round_.id}", now, payload, verified)
    surveys = db.session.scalars(
        sa.select(Survey).where(
            Survey.state == SurveyState.published,
            Survey.opens_at > since,
            Survey.opens_at <= now,
            Survey.closes_at > now,
        )
    )
    for survey in surveys:
        payload = {
            "type": "survey",
            "title": survey.title,
            "title_en": survey.title_en,
            "closes_at": survey.closes_at.isoformat(),
            "url": url_for("surveys.show", survey_id=survey.id, _external=True),
        }
        verified = survey.eligibility == Eligibility.verified
        count += _queue_all(NoticeKind.openings, f"survey:{survey.id}", now, payload, verified)
    return count


def _queue_all(
    kind: NoticeKind, key: str, now: dt.datetime, payload: dict[str, Any], verified: bool
) -> int:
    people = db.session.scalars(_recipients(kind, now, verified_only=verified)).all()
    return _queue(kind, key, dict.fromkeys(people, payload))


def week_key(now: dt.datetime) -> str:
    """Return the ISO week, e.g. "digest:2026-W49": one digest per person and week."""
    year, week, _ = now.isocalendar()
    return f"digest:{year}-W{week:02d}"


def queue_digest(now: dt.datetime) -> int:
    """Queue one digest per opted-in person with changes on followed projects in 7 days."""
    since = now - dt.timedelta(days=7)
    changes = _project_changes(since, now)
    if not changes:
        return 0
    recipients = _recipients(NoticeKind.digest, now).subquery()
    follows = db.session.execute(
        sa.select(ProjectFollow.user_id, ProjectFollow.project_id)
        .where(
            ProjectFollow.user_id.in_(sa.select(recipients.c.id)),
            ProjectFollow.project_id.in_(list(changes)),
        )
        .order_by(ProjectFollow.user_id, ProjectFollow.project_id)
    ).all()
    own = _own_comment_counts(since, now, sa.select(recipients.c.id), list(changes))
    per_person: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for user_id, project_id in follows:
        item = changes[project_id]
        mine = own.get((user_id, project_id), 0)
        if mine:
            # A digest tells what others did: one's own comments are no news to oneself.
            item = {**item, "comments": item["comments"] - mine}
            if not (item["statuses"] or item["updates"] or item["comments"]):
                continue
        per_person[user_id].append(item)
    payloads = {user_id: {"projects": items} for user_id, items in per_person.items()}
    return _queue(NoticeKind.digest, week_key(now), payloads)


def _project_changes(since: dt.datetime, now: dt.datetime) -> dict[int, dict[str, Any]]:
    """Per published project: new statuses, update titles, and the count of new comments."""
    projects: dict[int, dict[str, Any]] = {
        project_id: {
            "title": title,
            "title_en": title_en,
            "url": url_for("projects.detail", slug=slug, _external=True),
            "statuses": [],
            "updates": [],
            "comments": 0,
        }
        for project_id, title, title_en, slug in db.session.execute(
            sa.select(Project.id, Project.title, Project.title_en, Project.slug).where(
                Project.state == Visibility.published
            )
        )
    }
    window = (since, now)
    _add(
        projects,
        "statuses",
        db.session.execute(
            sa.select(ProjectStatusChange.project_id, ProjectStatusChange.new_status)
            .where(ProjectStatusChange.created_at.between(*window))
            .order_by(ProjectStatusChange.created_at, ProjectStatusChange.id)
        ),
    )
    # Update titles in both languages: the sender picks the reader's (older mails: text only).
    for project_id, title, title_en in db.session.execute(
        sa.select(ProjectUpdate.project_id, ProjectUpdate.title, ProjectUpdate.title_en)
        .where(ProjectUpdate.created_at.between(*window))
        .order_by(ProjectUpdate.created_at, ProjectUpdate.id)
    ):
        if project_id in projects:
            projects[project_id]["updates"].append({"title": title, "title_en": title_en})
    for project_id, count in db.session.execute(
        sa.select(Project.id, sa.func.count(Comment.id))
        .join(Comment, Comment.thread_id == Project.thread_id)
        .where(
            Comment.status == CommentStatus.published,
            Comment.deleted_at.is_(None),
            Comment.created_at.between(*window),
        )
        .group_by(Project.id)
    ):
        if project_id in projects:
            projects[project_id]["comments"] = count
    return {
        project_id: item
        for project_id, item in projects.items()
        if item["statuses"] or item["updates"] or item["comments"]
    }


def _own_comment_counts(
    since: dt.datetime, now: dt.datetime, people: sa.Select[Any], project_ids: list[int]
) -> dict[tuple[int, int], int]:
    """Return (person, project) → the person's own comments counted in the digest window."""
    rows = db.session.execute(
        sa.select(Comment.author_id, Project.id, sa.func.count(Comment.id))
        .join(Comment, Comment.thread_id == Project.thread_id)
        .where(
            Project.id.in_(project_ids),
            Comment.author_id.in_(people),
            Comment.status == CommentStatus.published,
            Comment.deleted_at.is_(None),
            Comment.created_at.between(since, now),
        )
        .group_by(Comment.author_id, Project.id)
    )
    return {(author_id, project_id): count for author_id, project_id, count in rows}


def _add(projects: dict[int, dict[str, Any]], field: str, rows: Iterable[Any]) -> None:
    for project_id, value in rows:
        if project_id in projects:
            projects[project_id][field].append(str(value))

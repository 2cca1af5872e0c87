"""Moderation use cases: the queue, decisions with reasons, appeals, keywords, the public report."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from kldialog import permissions
from kldialog.auth.blocking import PERMANENT_BLOCK
from kldialog.auth.models import User
from kldialog.comments.models import Comment, CommentReport, CommentStatus, Keyword, ReportReason
from kldialog.comments.services import adjust_published_count, clean_body
from kldialog.kernel import pagecache
from kldialog.kernel.audit import audit
from kldialog.kernel.db import UTCDateTime, db, lock_rows, utc_month
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.pagination import Page, paginate
from kldialog.kernel.time import utcnow
from kldialog.moderation import states
from kldialog.moderation.models import Action, Appeal, AppealOutcome, ModerationDecision

QUEUE_FILTERS = ("all", "pending", "reported", "appeals")


# --- keywords -----------------------------------------------------------------------------


def keywords() -> list[Keyword]:
    """Return the keyword list, alphabetically."""
    return list(db.session.scalars(sa.select(Keyword).order_by(Keyword.word)))


def add_keyword(moderator: User, word: str) -> Keyword:
    """Add a word or phrase to the keyword list."""
    word = " ".join(clean_body(word).casefold().split())
    if not 2 <= len(word) <= 100:
        raise RuleViolation(_l("Please enter 2 to 100 characters."), field="word")
    if db.session.scalar(sa.select(Keyword.id).where(Keyword.word == word)):
        raise RuleViolation(_l("This word is already on the list."), field="word")
    keyword = Keyword(word=word)
    db.session.add(keyword)
    audit(moderator, "keyword.add", "keyword", None, "", word=word)
    db.session.commit()
    return keyword


def remove_keyword(moderator: User, keyword: Keyword) -> None:
    """Remove a word from the keyword list."""
    audit(moderator, "keyword.remove", "keyword", keyword.id, "", word=keyword.word)
    db.session.delete(keyword)
    db.session.commit()


# --- the queue ----------------------------------------------------------------------------


@dataclass
class QueueItem:
    """A comment that needs a decision, with what a moderator needs to decide."""

    comment: Comment
    reports: Counter[ReportReason] = field(default_factory=Counter)
    report_texts: list[str] = field(default_factory=list)
    appeal: Appeal | None = None
    author_comments: int = 0
    author_hidden: int = 0

    @property
    def version(self) -> str:
        """Return version_of() the comment as this item shows it (for the decision forms)."""
        open_appeal = self.appeal if self.appeal and self.appeal.decided_at is None else None
        return version_of(self.comment, open_appeal)


def _conditions() -> dict[str, sa.ColumnElement[bool]]:
    """Return what puts a comment in the queue, per filter (by the state table)."""
    # A withdrawn comment has nothing left to publish, hide or restore (states.withdrawn):
    # only its open reports still ask for a decision (dismiss, or block the author).
    live = Comment.deleted_at.is_(None)
    pending = sa.and_(Comment.status == CommentStatus.pending, live)
    reported = sa.exists().where(
        CommentReport.comment_id == Comment.id, CommentReport.resolved_at.is_(None)
    )
    appealed = sa.and_(
        sa.exists().where(Appeal.comment_id == Comment.id, Appeal.decided_at.is_(None)), live
    )
    return {
        "all": sa.or_(pending, reported, appealed),
        "pending": pending,
        "reported": reported,
        "appeals": appealed,
    }


def queue(filter_by: str = "all", page: int = 1, per_page: int = 25) -> tuple[list[QueueItem], int]:
    """Return the items waiting for a decision, oldest first, with reports and author history."""
    conditions = _conditions()[filter_by]
    total = db.session.scalar(sa.select(sa.func.count(Comment.id)).where(conditions)) or 0
    comments = list(
        db.session.scalars(
            sa.select(Comment)
            .where(conditions)
            .order_by(Comment.created_at, Comment.id)
            .limit(per_page)
            .offset((max(1, page) - 1) * per_page)
        )
    )
    return details_for(comments), total


def details_for(comments: list[Comment]) -> list[QueueItem]:
    """Attach open reports, appeals and author history counts in three queries."""
    items = {c.id: QueueItem(c) for c in comments}
    if not items:
        return []
    for comment_id, reason, text in db.session.execute(
        sa.select(CommentReport.comment_id, CommentReport.reason, CommentReport.text).where(
            CommentReport.comment_id.in_(items), CommentReport.resolved_at.is_(None)
        )
    ):
        items[comment_id].reports[reason] += 1
        if text:
            items[comment_id].report_texts.append(text)
    for appeal in db.session.scalars(sa.select(Appeal).where(Appeal.comment_id.in_(items))):
        items[appeal.comment_id].appeal = appeal
    authors = {c.author_id for c in comments}
    history = db.session.execute(
        sa.select(
            Comment.author_id,
            sa.func.count(Comment.id),
            sa.func.count(Comment.id).filter(Comment.status == CommentStatus.hidden),
        )
        .where(Comment.author_id.in_(authors))
        .group_by(Comment.author_id)
    ).all()
    counts = {author: (total, hidden) for author, total, hidden in history}
    for item in items.values():
        item.author_comments, item.author_hidden = counts.get(item.comment.author_id, (0, 0))
    return list(items.values())


# --- decisions ------------------------------------------------------------------------------


def decide(
    moderator: User,
    comments: Iterable[Comment],
    action: Action,
    reason: str,
    *,
    block_days: int | None = None,
    seen: Mapping[int, str] | None = None,
) -> list[ModerationDecision]:
    """Apply one action with one reason to one or more comments; log and notify each.

    Every comment must allow the action by the state table (states.TRANSITIONS); if one
    does not, nothing is changed for any of them. The comments are locked and re-read first,
    so two moderators deciding at once are serialised and the second sees the first's result;
    `seen` (comment id → version_of() when the moderator's page was drawn) refuses a decision
    taken on a page that no longer shows the comment as it is.
    """
    reason = clean_body(reason)
    if not reason:
        raise RuleViolation(_l("Please give a reason. It is shown to the author."), field="reason")
    if len(reason) > 1000:
        raise RuleViolation(_l("Please use at most 1,000 characters."), field="reason")
    comments = _locked_fresh(comments)
    open_appeals = _open_appeals(c.id for c in comments)
    if seen is not None:
        _refuse_stale(comments, open_appeals, seen)
    many = len(comments) > 1
    steps = {c.id: _transition(c, action, c.id in open_appeals, many=many) for c in comments}
    refused = sorted(cid for cid, step in steps.items() if step is None)
    if refused:
        raise RuleViolation(
            _l(
                "Nothing was changed: this action is not possible for %(num)s of the selected"
                " comments in their current state (%(ids)s).",
                num=len(refused),
                ids=", ".join(f"#{i}" for i in refused),
            )
        )
    if action is Action.block:
        for comment in comments:
            _check_block(moderator, comment, block_days)
    now = utcnow()
    plan = [(c, step) for c in comments if (step := steps[c.id]) is not None]
    decisions = []
    for comment, step in plan:
        decisions.append(_apply(moderator, comment, action, step, reason, block_days, now))
        if step.close_appeal is not None:
            open_appeals[comment.id].decided_at = now
            open_appeals[comment.id].outcome = step.close_appeal
    db.session.commit()
    from kldialog.comments.notifications import notify_decision

    for decision in decisions:
        notify_decision(decision)
    return decisions


def _refuse_stale(
    comments: list[Comment], open_appeals: Mapping[int, Appeal], seen: Mapping[int, str]
) -> None:
    """Refuse the decision if a comment changed since the moderator's page was drawn."""
    stale = sorted(
        c.id
        for c in comments
        if c.id in seen and seen[c.id] != version_of(c, open_appeals.get(c.id))
    )
    if stale:
        raise RuleViolation(
            _l(
                "Nothing was changed: %(ids)s was decided by someone else or changed by"
                " its author in the meantime. Please look at its current state and decide"
                " again.",
                ids=", ".join(f"#{i}" for i in stale),
            )
        )


def version_of(comment: Comment, open_appeal: Appeal | None) -> str:
    """Return what a decision form remembers of the comment: state, open appeal, last edit."""
    state = states.state_of(comment, appeal_open=open_appeal is not None)
    edited = comment.edited_at.isoformat() if comment.edited_at else ""
    return f"{state.value}.{open_appeal.id if open_appeal else 0}.{edited}"


def _locked_fresh(comments: Iterable[Comment]) -> list[Comment]:
    """Lock the comments' rows and return them as they are now, not as the session held them."""
    ids = sorted({c.id for c in comments})
    lock_rows(Comment.id, ids)
    return list(
        db.session.scalars(
            sa.select(Comment)
            .where(Comment.id.in_(ids))
            .order_by(Comment.id)
            .execution_options(populate_existing=True)
        )
    )


def _open_appeals(comment_ids: Iterable[int]) -> dict[int, Appeal]:
    ids = set(comment_ids)
    if not ids:
        return {}
    return {
        a.comment_id: a
        for a in db.session.scalars(
            sa.select(Appeal)
            .where(Appeal.comment_id.in_(ids), Appeal.decided_at.is_(None))
            .execution_options(populate_existing=True)
        )
    }


def _transition(
    comment: Comment, action: Action, appeal_open: bool, *, many: bool
) -> states.Transition | None:
    """Return the table's step for one comment; a single refusal says why in its own words."""
    state = states.state_of(comment, appeal_open=appeal_open)
    step = states.transition(state, action)
    if step is None and not many:
        if state is states.ModerationState.withdrawn:
            raise RuleViolation(
                _l(
                    "The author has withdrawn this comment: it can no longer be published"
                    " or hidden."
                )
            )
        if action in (Action.appeal_upheld, Action.appeal_rejected):
            raise RuleViolation(_l("There is no open appeal for this comment."))
        raise RuleViolation(_l("This action is not possible for the comment in its current state."))
    return step


def offered_actions(moderator: User, item: QueueItem) -> list[Action]:
    """Return the actions to offer on the item page: the table's, minus synonyms and no-ops."""
    comment = item.comment
    appeal_open = item.appeal is not None and item.appeal.decided_at is None
    state = states.state_of(comment, appeal_open=appeal_open)
    pending = state is states.ModerationState.pending
    actions = []
    for action in states.allowed(state):
        if action is Action.approve and state is not states.ModerationState.pending:
            continue  # "restore" and "uphold the appeal" say what it means here
        if action is Action.restore and state is states.ModerationState.appealed:
            continue
        if action is Action.dismiss and (pending or not item.reports):
            continue
        if action is Action.block and not permissions.can_block(moderator, comment.author):
            continue
        actions.append(action)
    return actions


def _check_block(moderator: User, comment: Comment, block_days: int | None) -> None:
    if block_days is not None and not 1 <= block_days <= 3650:
        raise RuleViolation(
            _l("Please block for 1 to 3,650 days, or permanently."), field="block_days"
        )
    if comment.author_id == moderator.id:
        raise RuleViolation(_l("You cannot block yourself."))
    if not permissions.can_block(moderator, comment.author):
        raise RuleViolation(_l("You may not block this account."))


def _apply(
    moderator: User,
    comment: Comment,
    action: Action,
    step: states.Transition,
    reason: str,
    block_days: int | None,
    now: dt.datetime,
) -> ModerationDecision:
    was_public = comment.status is CommentStatus.published
    blocked_until = None
    if step.status is CommentStatus.published:
        comment.status = CommentStatus.published
        comment.hidden_reason = ""
    elif step.status is CommentStatus.hidden:
        comment.status = CommentStatus.hidden
        if action is Action.hide:  # a rejected appeal keeps the reason it was hidden for
            comment.hidden_reason = reason
    if action is Action.block:
        blocked_until = now + dt.timedelta(days=block_days) if block_days else PERMANENT_BLOCK
        comment.author.blocked_until = blocked_until
    if was_public != (comment.status is CommentStatus.published):
        adjust_published_count(comment, +1 if comment.status is CommentStatus.published else -1)
    if step.resolve_reports:
        db.session.execute(
            sa.update(CommentReport)
            .where(CommentReport.comment_id == comment.id, CommentReport.resolved_at.is_(None))
            .values(resolved_at=now)
        )
    decision = ModerationDecision(
        comment_id=comment.id,
        moderator_id=moderator.id,
        action=action,
        reason=reason,
        blocked_until=blocked_until,
        created_at=now,
    )
    db.session.add(decision)
    return decision


def appeal(author: User, comment: Comment, text: str) -> Appeal:
    """Appeal once against the hiding of one's own comment; it goes back to the queue."""
    if comment.author_id != author.id:
        raise RuleViolation(_l("You can only appeal decisions on your own comments."))
    if comment.status is not CommentStatus.hidden:
        raise RuleViolation(_l("Only hidden comments can be appealed."))
    text = clean_body(text)
    if not 10 <= len(text) <= 2000:
        raise RuleViolation(_l("Please explain in 10 to 2,000 characters."), field="text")
    if db.session.scalar(sa.select(Appeal.id).where(Appeal.comment_id == comment.id)):
        raise RuleViolation(_l("You have already appealed this decision."))
    item = Appeal(comment_id=comment.id, text=text)
    db.session.add(item)
    db.session.commit()
    return item


def decisions_about(user: User) -> list[ModerationDecision]:
    """Return the moderation decisions on a person's comments, newest first."""
    return list(
        db.session.scalars(
            sa.select(ModerationDecision)
            .join(ModerationDecision.comment)
            .where(Comment.author_id == user.id)
            .order_by(ModerationDecision.created_at.desc())
        )
    )


# --- the public report -----------------------------------------------------------------------


@dataclass
class MonthReport:
    """What happened in moderation in one month; no personal data."""

    month: dt.date
    published: int = 0
    reported: int = 0
    hidden: int = 0
    restored: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    hours_to_decision: list[float] = field(default_factory=list)
    appeals: int = 0
    appeals_upheld: int = 0
    appeals_rejected: int = 0

    @property
    def median_hours(self) -> float | None:
        """Return the median time from report or submission to decision, in hours."""
        return statistics.median(self.hours_to_decision) if self.hours_to_decision else None


def monthly_report() -> list[MonthReport]:
    """Return the report, computed once per data version for every reader (do not change it)."""
    return pagecache.memo("moderation.monthly_report", _count_monthly_report)


def _count_monthly_report() -> list[MonthReport]:
    """Aggregate moderation per month (UTC), newest first.

    Counted in SQL, grouped by month, so the rows read grow with the months and the decided
    comments (for the median time to decision), not with every comment and report.
    """
    months: dict[str, MonthReport] = {}

    def get(month: str) -> MonthReport:
        if month not in months:
            year, number = month.split("-")
            months[month] = MonthReport(dt.date(int(year), int(number), 1))
        return months[month]

    count = sa.func.count()
    published = utc_month(Comment.created_at)
    for month, n in db.session.execute(
        sa.select(published, count)
        .where(Comment.status != CommentStatus.pending)
        .group_by(published)
    ):
        get(month).published = n
    reported = utc_month(CommentReport.created_at)
    for month, reason, n in db.session.execute(
        sa.select(reported, CommentReport.reason, count).group_by(reported, CommentReport.reason)
    ):
        get(month).reasons[reason.value] = n
    first = (
        sa.select(CommentReport.comment_id, sa.func.min(CommentReport.created_at).label("at"))
        .group_by(CommentReport.comment_id)
        .subquery()
    )
    for month, n in db.session.execute(
        sa.select(utc_month(first.c.at), count).group_by(utc_month(first.c.at))
    ):
        get(month).reported = n
    decided = utc_month(ModerationDecision.created_at)
    for month, action, n in db.session.execute(
        sa.select(decided, ModerationDecision.action, count).group_by(
            decided, ModerationDecision.action
        )
    ):
        if action is Action.hide:
            get(month).hidden += n
        elif action in (Action.restore, Action.appeal_upheld):
            get(month).restored += n
    for month, hours in _hours_to_first_decision(first):
        get(month).hours_to_decision.append(hours)
    appealed = utc_month(Appeal.created_at)
    for month, outcome, n in db.session.execute(
        sa.select(appealed, Appeal.outcome, count).group_by(appealed, Appeal.outcome)
    ):
        report = get(month)
        report.appeals += n
        if outcome is AppealOutcome.upheld:
            report.appeals_upheld += n
        elif outcome is AppealOutcome.rejected:
            report.appeals_rejected += n
    return sorted(months.values(), key=lambda r: r.month, reverse=True)


def _hours_to_first_decision(first_report: sa.Subquery) -> list[tuple[str, float]]:
    """Per decided comment: its first decision's month and the hours since the first report.

    Not a block: a block is about the author. A comment nobody reported counts from when it
    was written.
    """
    first_decision = (
        sa.select(
            ModerationDecision.comment_id, sa.func.min(ModerationDecision.created_at).label("at")
        )
        .where(ModerationDecision.action != Action.block)
        .group_by(ModerationDecision.comment_id)
        .subquery()
    )
    start = sa.func.coalesce(first_report.c.at, Comment.created_at)
    rows = db.session.execute(
        sa.select(first_decision.c.at, sa.type_coerce(start, UTCDateTime()))
        .join(Comment, Comment.id == first_decision.c.comment_id)
        .outerjoin(first_report, first_report.c.comment_id == first_decision.c.comment_id)
    )
    return [(f"{at:%Y-%m}", max(0.0, (at - began).total_seconds() / 3600)) for at, began in rows]


def report_as_dict(reports: list[MonthReport]) -> list[dict[str, Any]]:
    """Return the report in a form for JSON export."""
    return [
        {
            "month": r.month.strftime("%Y-%m"),
            "published": r.published,
            "reported": r.reported,
            "hidden": r.hidden,
            "restored": r.restored,
            "report_reasons": dict(r.reasons),
            "median_hours_to_decision": r.median_hours,
            "appeals": r.appeals,
            "appeals_upheld": r.appeals_upheld,
            "appeals_rejected": r.appeals_rejected,
        }
        for r in reports
    ]


# --- pages for moderators and authors ----------------------------------------------------------


def projects_by_thread(thread_ids: Iterable[int]) -> dict[int, Any]:
    """Return the project (id, slug, title) that owns each thread, in one query."""
    from kldialog.projects.models import Project

    ids = set(thread_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        sa.select(Project.thread_id, Project.id, Project.slug, Project.title).where(
            Project.thread_id.in_(ids)
        )
    ).all()
    return {row.thread_id: row for row in rows}


def decision_log(page: int = 1, per_page: int = 50) -> Page[ModerationDecision]:
    """Return the moderation log, newest first (comment and moderator joined): two queries."""
    return paginate(
        sa.select(ModerationDecision).order_by(ModerationDecision.id.desc()),
        count=sa.select(sa.func.count(ModerationDecision.id)),
        page=page,
        per_page=per_page,
    )


def decisions_on(comment: Comment) -> list[ModerationDecision]:
    """Return the decisions on one comment, newest first."""
    return list(
        db.session.scalars(
            sa.select(ModerationDecision)
            .where(ModerationDecision.comment_id == comment.id)
            .order_by(ModerationDecision.id.desc())
        )
    )


def appeals_for(comment_ids: Iterable[int]) -> dict[int, Appeal]:
    """Return the appeals on the given comments, by comment id, in one query."""
    ids = set(comment_ids)
    if not ids:
        return {}
    return {
        a.comment_id: a
        for a in db.session.scalars(sa.select(Appeal).where(Appeal.comment_id.in_(ids)))
    }

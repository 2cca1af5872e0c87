"""Comment use cases: read a thread page, post, reply, edit, delete, support, report."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import format_decimal
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from kldialog.auth.models import User
from kldialog.comments.models import (
    Comment,
    CommentReport,
    CommentStatus,
    CommentSupport,
    Keyword,
    ReportReason,
    Thread,
)
from kldialog.kernel.audit import audit
from kldialog.kernel.db import affected_rows, db
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.pagination import Paged, clamp_page
from kldialog.kernel.time import utcnow

SORTS = ("newest", "oldest", "supported")
URL_PATTERN = re.compile(r"\bhttps?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]", re.I)


# --- text ------------------------------------------------------------------------------------


def clean_body(text: str) -> str:
    """Normalise a comment: unify line breaks, drop control characters, trim."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs")
    )
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def body_problem(text: str) -> str | None:
    """Return why a (cleaned) comment text is not acceptable, or None."""
    limit = current_app.config["COMMENT_MAX_LENGTH"]
    if not text:
        return str(_l("Please write a comment."))
    if len(text) > limit:
        return str(
            _l(
                "Your comment has %(length)s characters; at most %(limit)s are allowed. "
                "Please shorten it by %(over)s.",
                length=format_decimal(len(text)),
                limit=format_decimal(limit),
                over=format_decimal(len(text) - limit),
            )
        )
    return None


def render_body(text: str) -> Markup:
    """Render plain text as HTML: everything escaped, line breaks kept, web links clickable."""
    parts: list[str] = []
    position = 0
    for match in URL_PATTERN.finditer(text):
        parts.append(str(escape(text[position : match.start()])))
        url = match.group(0)
        link = escape(url)
        parts.append(f'<a class="kern-link" href="{link}" rel="nofollow ugc noopener">{link}</a>')
        position = match.end()
    parts.append(str(escape(text[position:])))
    html = "".join(parts)
    paragraphs = [p.replace("\n", "<br>\n") for p in html.split("\n\n") if p.strip()]
    return Markup("".join(f'<p class="kern-body">{p}</p>' for p in paragraphs))  # noqa: S704


# --- reading ------------------------------------------------------------------------------


@dataclass
class ThreadPage(Paged):
    """One page of a thread: top-level comments, a few replies each, the viewer's marks."""

    thread: Thread
    comments: list[Comment]
    replies: dict[int, list[Comment]]
    total: int
    page: int
    per_page: int
    sort: str
    supported: set[int] = field(default_factory=set)
    reported: set[int] = field(default_factory=set)


def _visible_to(viewer: Any) -> sa.ColumnElement[bool]:
    """Return the condition for comments a viewer sees: public ones and their own pending ones."""
    public = Comment.status.in_([CommentStatus.published, CommentStatus.hidden])
    if getattr(viewer, "is_authenticated", False):
        return sa.or_(
            public, sa.and_(Comment.status == CommentStatus.pending, Comment.author_id == viewer.id)
        )
    return public


def _order(sort: str) -> tuple[Any, ...]:
    return {
        "newest": (Comment.created_at.desc(), Comment.id.desc()),
        "oldest": (Comment.created_at, Comment.id),
        "supported": (Comment.support_count.desc(), Comment.id.desc()),
    }[sort]


def thread_page(thread: Thread, viewer: Any, *, sort: str = "newest", page: int = 1) -> ThreadPage:
    """Load one page of a thread in a constant number of queries, however long it is."""
    per_page = current_app.config["COMMENTS_PER_PAGE"]
    shown_replies = current_app.config["REPLIES_SHOWN"]
    top = sa.and_(Comment.thread_id == thread.id, Comment.parent_id.is_(None), _visible_to(viewer))
    # count(*), not count(id): PostgreSQL then counts from the index alone.
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Comment).where(top)) or 0
    page = clamp_page(page, total, per_page)
    comments = list(
        db.session.scalars(
            sa.select(Comment)
            .where(top)
            .order_by(*_order(sort))
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    ids = [c.id for c in comments]
    replies: dict[int, list[Comment]] = {cid: [] for cid in ids}
    if ids:
        # The first few replies of each comment on the page, in one query (window function).
        number = (
            sa.func.row_number()
            .over(partition_by=Comment.parent_id, order_by=(Comment.created_at, Comment.id))
            .label("number")
        )
        # The thread condition is true of every reply; without it SQLite answers the "or"
        # of the viewer's own pending replies by reading every published comment of the site.
        ranked = (
            sa.select(Comment.id, number)
            .where(Comment.thread_id == thread.id, Comment.parent_id.in_(ids), _visible_to(viewer))
            .subquery()
        )
        reply = aliased(Comment)
        rows = db.session.scalars(
            sa.select(reply)
            .join(ranked, ranked.c.id == reply.id)
            .where(ranked.c.number <= shown_replies)
            .order_by(reply.created_at, reply.id)
        )
        for item in rows:
            if item.parent_id is not None:  # the join only finds replies; this tells mypy
                replies[item.parent_id].append(item)
    result = ThreadPage(thread, comments, replies, total, page, per_page, sort)
    if ids and getattr(viewer, "is_authenticated", False):
        all_ids = ids + [r.id for rs in replies.values() for r in rs]
        result.supported = set(
            db.session.scalars(
                sa.select(CommentSupport.comment_id).where(
                    CommentSupport.user_id == viewer.id, CommentSupport.comment_id.in_(all_ids)
                )
            )
        )
        result.reported = set(
            db.session.scalars(
                sa.select(CommentReport.comment_id).where(
                    CommentReport.reporter_id == viewer.id, CommentReport.comment_id.in_(all_ids)
                )
            )
        )
    return result


# --- the keyword list ---------------------------------------------------------------------


def matching_keywords(text: str) -> list[str]:
    """Return the listed words or phrases that occur in text (case-insensitive)."""
    folded = text.casefold()
    return [word for word in db.session.scalars(sa.select(Keyword.word)) if word in folded]


# --- writing ------------------------------------------------------------------------------


def _needs_review(author: User, thread: Thread, text: str) -> bool:
    """Return whether a new comment waits for a moderator before it is shown."""
    if thread.is_premoderated:
        return True
    days = current_app.config["PREMODERATE_ACCOUNTS_YOUNGER_THAN_DAYS"]
    if days and author.created_at > utcnow() - dt.timedelta(days=days):
        return True
    return bool(matching_keywords(text))


def post_comment(author: User, thread: Thread, text: str, parent: Comment | None = None) -> Comment:
    """Publish a comment or reply (or queue it for review); a reply to a reply joins its thread."""
    if thread.is_closed:
        raise RuleViolation(_l("The discussion on this project is closed."))
    text = clean_body(text)
    problem = body_problem(text)
    if problem:
        raise RuleViolation(problem, field="body")
    if parent is not None:
        if parent.thread_id != thread.id:
            raise RuleViolation(_l("You can only reply to comments in the same discussion."))
        if parent.parent_id is not None:
            parent = db.session.get(Comment, parent.parent_id)
        if parent is None or parent.status is not CommentStatus.published or parent.deleted_at:
            raise RuleViolation(_l("This comment can no longer be answered."))
    status = (
        CommentStatus.pending if _needs_review(author, thread, text) else CommentStatus.published
    )
    comment = Comment(
        thread_id=thread.id,
        author_id=author.id,
        parent_id=parent.id if parent else None,
        body=text,
        status=status,
    )
    db.session.add(comment)
    if status is CommentStatus.published:
        adjust_published_count(comment, +1)
    db.session.commit()
    if status is CommentStatus.published and parent is not None and parent.author_id != author.id:
        from kldialog.comments.notifications import notify_reply

        notify_reply(parent, comment)
    return comment


def adjust_published_count(comment: Comment, delta: int) -> None:
    """Keep the thread's and the parent's counters in step (atomic UPDATEs, no lost writes)."""
    db.session.execute(
        sa.update(Thread)
        .where(Thread.id == comment.thread_id)
        .values(comment_count=Thread.comment_count + delta)
    )
    if comment.parent_id:
        db.session.execute(
            sa.update(Comment)
            .where(Comment.id == comment.parent_id)
            .values(reply_count=Comment.reply_count + delta)
        )


def edit_comment(author: User, comment: Comment, text: str) -> None:
    """Change one's own comment within the edit window; it is marked as edited."""
    text = clean_body(text)
    problem = body_problem(text)
    if problem:
        raise RuleViolation(problem, field="body")
    if text == comment.body:
        return
    comment.body = text
    comment.edited_at = utcnow()
    thread = db.session.get_one(Thread, comment.thread_id)
    if comment.status is CommentStatus.published and _needs_review(author, thread, text):
        comment.status = CommentStatus.pending
        adjust_published_count(comment, -1)
    db.session.commit()


def delete_own_comment(author: User, comment: Comment) -> None:
    """Withdraw one's own comment: the text goes, the place in the thread and replies stay."""
    if comment.deleted_at is not None:
        return
    comment.body = ""
    comment.deleted_at = utcnow()
    db.session.commit()


def support_comment(user: User, comment: Comment) -> None:
    """Add one's +1 (once; parallel double clicks are settled by the primary key)."""
    db.session.add(CommentSupport(user_id=user.id, comment_id=comment.id))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return
    db.session.execute(
        sa.update(Comment)
        .where(Comment.id == comment.id)
        .values(support_count=Comment.support_count + 1)
    )
    db.session.commit()


def withdraw_support(user: User, comment: Comment) -> None:
    """Take one's +1 back."""
    removed = affected_rows(
        db.session.execute(
            sa.delete(CommentSupport).where(
                CommentSupport.user_id == user.id, CommentSupport.comment_id == comment.id
            )
        )
    )
    if removed:
        db.session.execute(
            sa.update(Comment)
            .where(Comment.id == comment.id, Comment.support_count > 0)
            .values(support_count=Comment.support_count - 1)
        )
    db.session.commit()


def report_comment(reporter: User, comment: Comment, reason: ReportReason, text: str) -> None:
    """Report a comment once; enough distinct reports hide it until a moderator decides."""
    if comment.author_id == reporter.id:
        raise RuleViolation(_l("You cannot report your own comment."))
    text = clean_body(text)
    if reason is ReportReason.other and not text:
        raise RuleViolation(_l("Please describe the problem."), field="text")
    if len(text) > 1000:
        raise RuleViolation(_l("Please use at most 1,000 characters."), field="text")
    db.session.add(
        CommentReport(comment_id=comment.id, reporter_id=reporter.id, reason=reason, text=text)
    )
    try:
        db.session.flush()
    except IntegrityError as error:
        db.session.rollback()
        raise RuleViolation(_l("You have already reported this comment.")) from error
    db.session.execute(
        sa.update(Comment)
        .where(Comment.id == comment.id)
        .values(report_count=Comment.report_count + 1)
    )
    db.session.refresh(comment)
    open_reports = db.session.scalar(
        sa.select(sa.func.count(CommentReport.id)).where(
            CommentReport.comment_id == comment.id, CommentReport.resolved_at.is_(None)
        )
    )
    if (
        comment.status is CommentStatus.published
        and open_reports >= current_app.config["REPORTS_TO_HIDE"]
    ):
        comment.status = CommentStatus.pending  # hidden until a moderator has looked
        adjust_published_count(comment, -1)
    db.session.commit()


def set_thread_closed(actor: User, thread: Thread, closed: bool, note: str) -> None:
    """Close a discussion (read-only, with a note why) or open it again."""
    note = clean_body(note)
    if closed and not note:
        raise RuleViolation(_l("Please say why the discussion is closed."), field="note")
    thread.is_closed = closed
    thread.closed_note = note if closed else ""
    audit(actor, "thread.close" if closed else "thread.open", "thread", thread.id, note)
    db.session.commit()


# --- threads, comment pages, personal data ------------------------------------------------


def open_thread(kind: str) -> Thread:
    """Return a new, empty discussion for an owner of this kind (added, not committed)."""
    thread = Thread(kind=kind)
    db.session.add(thread)
    return thread


def is_visible_to(comment: Comment, viewer: Any, *, moderator: bool = False) -> bool:
    """Return whether a viewer may see a comment at all (pending: its author and moderators)."""
    if comment.status is not CommentStatus.pending:
        return True
    own = getattr(viewer, "is_authenticated", False) and comment.author_id == viewer.id
    return bool(own or moderator)


@dataclass
class ReplyPage(Paged):
    """One page of the replies to a comment (its own page, /comments/<id>)."""

    comment: Comment
    replies: list[Comment]
    total: int
    page: int
    per_page: int
    supported: set[int] = field(default_factory=set)
    reported: set[int] = field(default_factory=set)


def _marks(viewer: Any, ids: list[int]) -> tuple[set[int], set[int]]:
    """Return which of these comments the viewer supports and has reported."""
    if not ids or not getattr(viewer, "is_authenticated", False):
        return set(), set()
    supported = set(
        db.session.scalars(
            sa.select(CommentSupport.comment_id).where(
                CommentSupport.user_id == viewer.id, CommentSupport.comment_id.in_(ids)
            )
        )
    )
    reported = set(
        db.session.scalars(
            sa.select(CommentReport.comment_id).where(
                CommentReport.reporter_id == viewer.id, CommentReport.comment_id.in_(ids)
            )
        )
    )
    return supported, reported


def reply_page(comment: Comment, viewer: Any, *, page: int = 1) -> ReplyPage:
    """Load one page of a comment's replies, oldest first, in a constant number of queries."""
    per_page = current_app.config["COMMENTS_PER_PAGE"]
    where = sa.and_(Comment.parent_id == comment.id, _visible_to(viewer))
    total = db.session.scalar(sa.select(sa.func.count(Comment.id)).where(where)) or 0
    page = clamp_page(page, total, per_page)
    replies = list(
        db.session.scalars(
            sa.select(Comment)
            .where(where)
            .order_by(Comment.created_at, Comment.id)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    supported, reported = _marks(viewer, [comment.id, *(r.id for r in replies)])
    return ReplyPage(comment, replies, total, page, per_page, supported, reported)


def comments_export(user: User, project_slug: Any) -> dict[str, list[dict[str, Any]]]:
    """Return a person's comments and supports for their data export.

    project_slug maps a thread id to its owner's slug (the owner lookup stays with the owner).
    """
    comments = db.session.scalars(
        sa.select(Comment).where(Comment.author_id == user.id).order_by(Comment.id)
    )
    supports = db.session.scalars(
        sa.select(CommentSupport)
        .where(CommentSupport.user_id == user.id)
        .order_by(CommentSupport.created_at)
    )
    return {
        "comments": [
            {
                "id": c.id,
                "project": project_slug(c.thread_id),
                "reply_to": c.parent_id,
                "text": c.body,
                "status": c.status.value,
                "created_at": c.created_at.isoformat(),
                "edited_at": c.edited_at.isoformat() if c.edited_at else None,
                "deleted_at": c.deleted_at.isoformat() if c.deleted_at else None,
            }
            for c in comments
        ],
        "supported_comments": [
            {"comment": s.comment_id, "since": s.created_at.isoformat()} for s in supports
        ],
    }


def erase_supports(user: User) -> None:
    """Withdraw all of a person's +1s (account deletion); their comments stay (DESIGN.md §2)."""
    ids = list(
        db.session.scalars(
            sa.select(CommentSupport.comment_id).where(CommentSupport.user_id == user.id)
        )
    )
    if not ids:
        return
    db.session.execute(sa.delete(CommentSupport).where(CommentSupport.user_id == user.id))
    db.session.execute(
        sa.update(Comment)
        .where(Comment.id.in_(ids), Comment.support_count > 0)
        .values(support_count=Comment.support_count - 1)
    )

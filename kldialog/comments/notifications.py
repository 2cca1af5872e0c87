"""E-mail about comments: replies (opt-in) and moderation decisions (always, with the reason)."""

from __future__ import annotations

from flask import url_for
from flask_babel import lazy_gettext as _l
from werkzeug.routing import BuildError

from kldialog.auth.models import User
from kldialog.comments.models import Comment
from kldialog.kernel.db import db
from kldialog.kernel.mail import send_mail


def _address(user: User | None) -> str | None:
    """Return where to write to this person, or None (gone, unconfirmed, no address)."""
    if user is None or user.deleted_at is not None or not user.is_confirmed:
        return None
    return user.email


def notify_reply(parent: Comment, reply: Comment) -> None:
    """Tell the author of a comment about a reply, if they asked for such mail."""
    author = db.session.get(User, parent.author_id)
    address = _address(author)
    if author is None or address is None or not author.notify_replies:
        return
    send_mail(
        address,
        _l("New reply to your comment"),
        "comment_reply",
        language=author.language,
        user=author,
        reply=reply,
        url=url_for("comments.show", comment_id=parent.id, _external=True),
        settings_url=url_for("auth.account", _external=True),
    )


def _comment_url(comment: Comment) -> str:
    """Link to the comment in its discussion (the author's decision page until that exists)."""
    try:
        return url_for("comments.show", comment_id=comment.id, _external=True)
    except BuildError:
        return url_for("moderation.my_decisions", _external=True)


def notify_decision(decision: object) -> None:
    """Tell an author what moderation decided about their comment, and why."""
    comment = decision.comment  # type: ignore[attr-defined]
    author = db.session.get(User, comment.author_id)
    address = _address(author)
    if author is None or address is None:
        return
    send_mail(
        address,
        _l("A moderation decision about your comment"),
        "moderation_decision",
        language=author.language,
        user=author,
        decision=decision,
        comment=comment,
        url=_comment_url(comment),
        account_url=url_for("moderation.my_decisions", _external=True),
    )

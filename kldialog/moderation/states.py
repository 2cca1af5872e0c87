"""The moderation state machine: one table of what each action does to a comment in each state.

Every decision, single or bulk, goes through `transition()`; a (state, action) pair that is
not in TRANSITIONS is refused. The views only offer what `offered()` returns and map the
refusal to a message.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from kldialog.comments.models import Comment, CommentStatus
from kldialog.moderation.models import Action, AppealOutcome


class ModerationState(enum.StrEnum):
    """Where a comment stands for moderation (derived, not stored)."""

    pending = "pending"  # waits for review (premoderated thread, keyword, or many reports)
    published = "published"
    hidden = "hidden"  # hidden, no open appeal
    appealed = "appealed"  # hidden, the author's appeal is open
    withdrawn = "withdrawn"  # the author deleted it: nothing left to publish or hide


@dataclass(frozen=True)
class Transition:
    """What an allowed action does: new status (None: unchanged), reports, the open appeal."""

    status: CommentStatus | None
    resolve_reports: bool
    close_appeal: AppealOutcome | None = None


_PUBLISH = Transition(CommentStatus.published, resolve_reports=True)
_HIDE = Transition(CommentStatus.hidden, resolve_reports=True)
_KEEP = Transition(None, resolve_reports=True)
# A block acts on the author, not the comment: reports and appeals stay for their own decision.
_BLOCK = Transition(None, resolve_reports=False)
_UPHOLD = Transition(
    CommentStatus.published, resolve_reports=True, close_appeal=AppealOutcome.upheld
)
_REJECT = Transition(
    CommentStatus.hidden, resolve_reports=True, close_appeal=AppealOutcome.rejected
)

S, A = ModerationState, Action
TRANSITIONS: dict[tuple[ModerationState, Action], Transition] = {
    (S.pending, A.approve): _PUBLISH,
    (S.pending, A.hide): _HIDE,
    (S.pending, A.dismiss): _PUBLISH,  # the reports that held it back were unfounded
    (S.pending, A.block): _BLOCK,
    (S.published, A.hide): _HIDE,
    (S.published, A.dismiss): _KEEP,
    (S.published, A.block): _BLOCK,
    (S.hidden, A.approve): _PUBLISH,
    (S.hidden, A.restore): _PUBLISH,
    (S.hidden, A.block): _BLOCK,
    # Publishing a comment whose hiding is appealed grants the appeal: it must not stay open.
    (S.appealed, A.approve): _UPHOLD,
    (S.appealed, A.restore): _UPHOLD,
    (S.appealed, A.appeal_upheld): _UPHOLD,
    (S.appealed, A.appeal_rejected): _REJECT,
    (S.appealed, A.block): _BLOCK,
    # The author withdrew it: open reports can be settled and the author blocked, nothing else.
    (S.withdrawn, A.dismiss): _KEEP,
    (S.withdrawn, A.block): _BLOCK,
}
del S, A


def state_of(comment: Comment, *, appeal_open: bool) -> ModerationState:
    """Return the comment's moderation state."""
    if comment.deleted_at is not None:
        return ModerationState.withdrawn
    if comment.status is CommentStatus.hidden:
        return ModerationState.appealed if appeal_open else ModerationState.hidden
    return ModerationState(comment.status.value)


def transition(state: ModerationState, action: Action) -> Transition | None:
    """Return what the action does in this state, or None if the table refuses it."""
    return TRANSITIONS.get((state, action))


def allowed(state: ModerationState) -> list[Action]:
    """Return the actions the table allows in a state, in the table's order."""
    return [action for (in_state, action) in TRANSITIONS if in_state is state]

"""All authorization rules: can_<verb>(user, obj) predicates used by views and templates.

A predicate answers "may this person do this now?" from roles and object state only; whether
the result of the action is valid (lengths, uniqueness) is for the services and the database.
`user` is Flask-Login's current_user: an anonymous user object or a User.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import abort, current_app

from kldialog.auth.models import Role


def _account(user: Any) -> bool:
    """Return whether user is a logged-in, not deleted account."""
    return bool(getattr(user, "is_authenticated", False)) and getattr(user, "deleted_at", 1) is None


def _mfa_roles() -> Role:
    """Return the roles of MFA_REQUIRED_ROLES as flags (unknown names: `flask check` says so)."""
    flags = Role(0)
    for name in current_app.config["MFA_REQUIRED_ROLES"]:
        flags |= Role.__members__.get(str(name), Role(0))
    return flags


def has_role(user: Any, role: Role) -> bool:
    """Return whether a logged-in account holds a role and may use it now.

    The one place of the second-factor rule (ASVS 4.3.1): a role of MFA_REQUIRED_ROLES counts
    only once the account has a second factor. A session only exists after the code was given
    (auth.views.load_user), so every predicate built on this one refuses the rest.
    """
    if not (_account(user) and user.has_role(role)):
        return False
    return bool(user.has_mfa) or not (role & _mfa_roles())


def mfa_enrolment_due(user: Any) -> bool:
    """Return whether the account holds a role that needs a second factor it does not have."""
    return _account(user) and not user.has_mfa and bool(Role(user.roles) & _mfa_roles())


def can_disable_mfa(user: Any) -> bool:
    """Return whether the person may switch their own second factor off (not if required)."""
    return _account(user) and bool(user.has_mfa) and not (Role(user.roles) & _mfa_roles())


def can_reset_mfa(user: Any, target: Any) -> bool:
    """Return whether user may remove target's second factor (admins, for others' accounts)."""
    return (
        is_admin(user)
        and target is not None
        and target.deleted_at is None
        and target.id != user.id
        and bool(target.has_mfa)
    )


def is_resident(user: Any) -> bool:
    """Return whether the person may take part: confirmed, current terms, not blocked."""
    return (
        has_role(user, Role.resident)
        and user.is_confirmed
        and user.accepted_terms_version == current_app.config["TERMS_VERSION"]
        and not user.is_blocked()
    )


def is_staff(user: Any) -> bool:
    """Return whether the person works for the city on the roadmap (admins can too)."""
    return has_role(user, Role.staff) or has_role(user, Role.admin)


def is_admin(user: Any) -> bool:
    """Return whether the person operates the platform."""
    return has_role(user, Role.admin)


def can_manage_account(user: Any) -> bool:
    """Return whether the person may see and change their own account (also when blocked)."""
    return _account(user)


def can_redeem_residency_code(user: Any) -> bool:
    """Return whether the person may verify their residency with a code."""
    return is_resident(user) and not user.is_verified


def can_follow(user: Any, project: Any) -> bool:
    """Return whether the person may follow a project (published ones only)."""
    return is_resident(user) and project is not None and can_view_project(None, project)


def can_view_project(user: Any, project: Any) -> bool:
    """Return whether the person may see a project: published and archived ones are public."""
    if project is None:
        return False
    return project.state.value != "draft" or is_staff(user)


def can_manage_roadmap(user: Any) -> bool:
    """Return whether the person may edit projects, categories, status and updates."""
    return is_staff(user)


def can_manage_residency_codes(user: Any) -> bool:
    """Return whether the person may generate residency codes."""
    return is_staff(user)


def can_manage_users(user: Any) -> bool:
    """Return whether the person may grant roles and block accounts."""
    return is_admin(user)


def can_change_roles(user: Any, target: Any) -> bool:
    """Return whether user may change target's roles (admins, on accounts not deleted)."""
    return is_admin(user) and target is not None and target.deleted_at is None


def can_read_audit_log(user: Any) -> bool:
    """Return whether the person may read the administrative audit log."""
    return is_admin(user)


# --- comments and moderation ------------------------------------------------------------


def _own(user: Any, comment: Any) -> bool:
    return _account(user) and comment is not None and comment.author_id == user.id


def can_comment(user: Any, thread: Any) -> bool:
    """Return whether the person may write in a discussion (None: not started yet, open)."""
    return is_resident(user) and (thread is None or not thread.is_closed)


def can_edit_comment(user: Any, comment: Any) -> bool:
    """Return whether the author may still change a comment: within the edit window."""
    if not (_own(user, comment) and is_resident(user)):
        return False
    if comment.deleted_at is not None or comment.status.value == "hidden":
        return False
    window = dt.timedelta(minutes=current_app.config["COMMENT_EDIT_MINUTES"])
    return dt.datetime.now(dt.UTC) < comment.created_at + window


def can_delete_comment(user: Any, comment: Any) -> bool:
    """Return whether the author may withdraw a comment (also when blocked: it is theirs)."""
    return _own(user, comment) and comment.deleted_at is None


def can_support(user: Any, comment: Any) -> bool:
    """Return whether the person may +1 a comment: residents, on others' visible comments."""
    return (
        is_resident(user)
        and comment is not None
        and not _own(user, comment)
        and comment.status.value == "published"
        and comment.deleted_at is None
    )


def can_report(user: Any, comment: Any) -> bool:
    """Return whether the person may report a comment: residents, not their own."""
    return (
        is_resident(user)
        and comment is not None
        and not _own(user, comment)
        and comment.deleted_at is None
        and comment.status.value != "hidden"
    )


def can_reply(user: Any, comment: Any, thread: Any) -> bool:
    """Return whether the person may answer a comment (published, not withdrawn)."""
    return (
        can_comment(user, thread)
        and comment is not None
        and comment.status.value == "published"
        and comment.deleted_at is None
    )


def can_appeal(user: Any, comment: Any) -> bool:
    """Return whether the author may appeal the hiding of their comment (not once withdrawn)."""
    return _own(user, comment) and comment.status.value == "hidden" and comment.deleted_at is None


def can_moderate(user: Any) -> bool:
    """Return whether the person works the moderation queue (moderators and admins)."""
    return has_role(user, Role.moderator) or has_role(user, Role.admin)


def can_close_discussion(user: Any) -> bool:
    """Return whether the person may close or reopen a project's discussion."""
    return is_staff(user) or can_moderate(user)


# --- priority rounds and ratings -------------------------------------------------------


def can_manage_rounds(user: Any) -> bool:
    """Return whether the person may create, change and publish priority rounds."""
    return is_staff(user)


def can_enter_paper(user: Any, round_: Any) -> bool:
    """Return whether the person may print and enter paper ballots of a round that offers them."""
    return is_staff(user) and round_ is not None and bool(round_.paper_offered)


def can_view_round(user: Any, round_: Any) -> bool:
    """Return whether the person may see a round: published ones are public, drafts staff."""
    if round_ is None:
        return False
    return round_.state.value == "published" or can_manage_rounds(user)


def can_vote(user: Any, round_: Any) -> bool:
    """Return whether the person may cast, change or withdraw a ballot in the round now."""
    if not (is_resident(user) and round_ is not None and round_.is_open()):
        return False
    return bool(round_.eligibility.admits(user))


def can_see_running_totals(user: Any, round_: Any) -> bool:
    """Return whether live totals of an open round are shown (only if staff chose so)."""
    return can_view_round(user, round_) and round_.show_running_totals


def is_council(user: Any) -> bool:
    """Return whether the person reads the council dashboard (council members, staff, admins)."""
    return has_role(user, Role.council) or is_staff(user)


def can_rate(user: Any, project: Any) -> bool:
    """Return whether the person may rate a project on the council's indicators."""
    return is_resident(user) and project is not None and project.state.value == "published"


def require(allowed: bool) -> None:
    """Abort with 403 unless the predicate allowed the action."""
    if not allowed:
        abort(403)


# --- admin area ------------------------------------------------------------------------------


def can_view_admin_area(user: Any) -> bool:
    """Return whether the person may open the administration start page (any admin task)."""
    return can_manage_users(user) or can_read_audit_log(user) or can_manage_residency_codes(user)


def can_block(user: Any, target: Any) -> bool:
    """Return whether user may block or unblock target.

    Admins may block any other account; moderators only plain residents. Nobody blocks
    themselves, and deleted accounts have nothing left to block. A block stops taking part;
    it does not take away roles (revoke those separately).
    """
    if not _account(user) or target is None or target.deleted_at is not None:
        return False
    if target.id == user.id:
        return False
    if is_admin(user):
        return True
    return has_role(user, Role.moderator) and Role(target.roles) == Role.resident


def can_see_email(user: Any, target: Any) -> bool:
    """Return whether user may see target's e-mail address (admins, and everyone their own)."""
    if not _account(user) or target is None:
        return False
    return is_admin(user) or target.id == user.id


# --- surveys ---------------------------------------------------------------------------------


def can_manage_surveys(user: Any) -> bool:
    """Return whether the person may build, publish and review surveys."""
    return is_staff(user)


def can_view_survey(user: Any, survey: Any) -> bool:
    """Return whether the person may see a survey: published ones are public, drafts staff."""
    if survey is None:
        return False
    return survey.state.value == "published" or can_manage_surveys(user)


def can_enter_survey_paper(user: Any, survey: Any) -> bool:
    """Return whether the person may print and enter paper questionnaires of a published survey."""
    return is_staff(user) and survey is not None and survey.state.value == "published"


def can_answer_survey(user: Any, survey: Any) -> bool:
    """Return whether the person may answer now (one submission is checked by the service)."""
    if not (is_resident(user) and survey is not None and survey.is_open()):
        return False
    return bool(survey.eligibility.admits(user))


def can_view_survey_results(user: Any, survey: Any) -> bool:
    """Return whether the person may read results: staff any time, everyone after close."""
    if survey is None:
        return False
    if can_manage_surveys(user):
        return True
    return survey.state.value == "published" and survey.is_closed()


def can_export_survey(user: Any, survey: Any) -> bool:
    """Return whether the person may download the (k-filtered) anonymous answer table."""
    return survey is not None and can_manage_surveys(user)


# --- events ----------------------------------------------------------------------------------


def can_manage_events(user: Any) -> bool:
    """Return whether the person may create, change, publish and cancel events."""
    return is_staff(user)


def can_view_event(user: Any, event: Any) -> bool:
    """Return whether the person may see an event: published and cancelled ones are public."""
    if event is None:
        return False
    return event.state.value != "draft" or can_manage_events(user)


def can_register(user: Any, event: Any) -> bool:
    """Return whether a logged-in person may register with one click now (before the start)."""
    return is_resident(user) and event is not None and event.takes_registrations()


def can_register_by_email(user: Any, event: Any) -> bool:
    """Return whether a visitor without a login may register with an e-mail address now."""
    logged_in = bool(getattr(user, "is_authenticated", False))
    return not logged_in and event is not None and event.takes_registrations()


def can_cancel_registration(user: Any, registration: Any) -> bool:
    """Return whether the person may give up a registration (their own; also when blocked)."""
    return _account(user) and registration is not None and registration.user_id == user.id


def can_publish_event_summary(user: Any, event: Any) -> bool:
    """Return whether the person may publish the summary: staff, once a held event is over."""
    return (
        can_manage_events(user)
        and event is not None
        and event.state.value == "published"
        and event.has_ended()
    )


# --- kiosk (a city-run device at a counter) ---------------------------------------------------

# Roles that never log in on a kiosk: their pages need a second factor and a device of their own.
KIOSK_REFUSED_ROLES = Role.staff | Role.admin | Role.moderator


def can_set_up_kiosk(user: Any) -> bool:
    """Return whether the person may turn this device into a kiosk (staff, on the device)."""
    return is_staff(user)


def can_log_in_on_kiosk(user: Any) -> bool:
    """Return whether an account may log in on a kiosk: not with staff, admin or moderator roles.

    Held roles count, second factor or not: the kiosk is a shared device for residents.
    """
    return _account(user) and not Role(user.roles) & KIOSK_REFUSED_ROLES


def can_issue_counter_code(user: Any) -> bool:
    """Return whether the person may hand out a residency code at the counter (staff)."""
    return is_staff(user)

"""Event pages: list, event page, registration (one click or e-mail), links, iCalendar, staff.

Every view reads top to bottom: load → authorize (permissions) → validate (form) → act
(services) → flash and redirect (303).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_date, format_time, get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as BaseResponse

from kldialog import permissions
from kldialog.events import calendar, links, reading, registrations, staff
from kldialog.events.forms import (
    EVENT_LANGUAGES,
    ButtonForm,
    CancelForm,
    EmailRegistrationForm,
    EventForm,
    SummaryForm,
)
from kldialog.events.models import Event, EventState, RegistrationStatus
from kldialog.kernel.errors import RuleViolation, show_rule_violation
from kldialog.kernel.extensions import limiter
from kldialog.kernel.params import page_number
from kldialog.kernel.time import as_utc, local_input_value
from kldialog.projects.reading import project_choices
from kldialog.windows.staff import staff_button

bp = Blueprint("events", __name__)


def _limit(name: str):  # noqa: ANN202
    """Rate-limit POSTs of a view by the configured rule (read per request)."""
    return limiter.limit(lambda: current_app.config[name], methods=["POST"])


@bp.app_template_global()
def event_when(event: Event) -> str:
    """Return when an event takes place, in the reader's language and the city's time zone."""
    start, end = as_utc(event.starts_at), as_utc(event.ends_at)
    if local_input_value(start).date() == local_input_value(end).date():
        return _(
            "%(date)s, %(start)s – %(end)s",
            date=format_date(start, "full"),
            start=format_time(start, "short"),
            end=format_time(end, "short"),
        )
    return _(
        "%(start_date)s, %(start)s – %(end_date)s, %(end)s",
        start_date=format_date(start, "full"),
        start=format_time(start, "short"),
        end_date=format_date(end, "full"),
        end=format_time(end, "short"),
    )


@bp.app_template_global()
def event_iso(moment: dt.datetime) -> str:
    """Return a stored time as ISO 8601 with its offset, for <time datetime>."""
    return as_utc(moment).isoformat()


@bp.app_template_global()
def event_language_name(code: str) -> str:
    """Return the name of an event's language in the reader's language."""
    return str(EVENT_LANGUAGES.get(code, code))


def _event_or_404(event_id: int) -> Event:
    event = reading.get_event(event_id)
    if event is None or not permissions.can_view_event(current_user, event):
        abort(404)  # a draft does not exist for the public yet
    return event


def _page_number() -> int:
    """Return ?page=N as a positive number; anything else is page 1."""
    return page_number(request.args.get("page"))


# --- public ----------------------------------------------------------------------------------


@bp.get("/events")
def index() -> str:
    """List upcoming (and running) events, or past ones with ?when=past; paginated."""
    past = request.args.get("when") == "past"
    result = reading.find_events(
        past=past, page=_page_number(), per_page=current_app.config["EVENTS_PER_PAGE"]
    )
    return render_template(
        "events/index.html",
        result=result,
        past=past,
        params={"when": "past"} if past else {},
        mine=reading.my_registration_states(current_user, [e.id for e in result.items]),
    )


def _show(
    event: Event, email_form: EmailRegistrationForm | None = None, status: int = 200
) -> tuple[str, int]:
    """Render the event page with the registration box for this visitor."""
    registration = reading.registration_of(current_user, event)
    position = None
    if registration is not None and registration.status == RegistrationStatus.waiting:
        position = reading.waiting_position(registration)
    projects = [p for p in event.projects if permissions.can_view_project(current_user, p)]
    return (
        render_template(
            "events/show.html",
            event=event,
            projects=projects,
            registration=registration,
            position=position,
            form=email_form or EmailRegistrationForm(formdata=None),
            button_form=ButtonForm(),
        ),
        status,
    )


@bp.get("/events/<int:event_id>")
def show(event_id: int) -> tuple[str, int]:
    """Show an event: when, where, accessibility, places, registration, summary."""
    event = reading.get_event_with_projects(event_id)
    if event is None or not permissions.can_view_event(current_user, event):
        abort(404)
    return _show(event)


def _closed_message(event: Event) -> str:
    if event.state == EventState.cancelled:
        return _("This event has been cancelled. Nothing was saved.")
    if event.has_started():
        return _("Registration has closed: the event has already begun. Nothing was saved.")
    return _("This event does not take registrations. Nothing was saved.")


@bp.post("/events/<int:event_id>/register")
def register(event_id: int) -> BaseResponse:
    """Register the logged-in resident with one click (a place or the waiting list)."""
    event = _event_or_404(event_id)
    back = url_for("events.show", event_id=event.id)
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=back), 303)
    if not ButtonForm().validate_on_submit():
        abort(400)
    if not event.takes_registrations():
        flash(_closed_message(event), "danger")
        return redirect(back, 303)
    permissions.require(permissions.can_register(current_user, event))
    try:
        registration = registrations.register_resident(current_user._get_current_object(), event)
    except RuleViolation as error:
        flash(error.message, "danger")
        return redirect(back, 303)
    if registration.status == RegistrationStatus.registered:
        flash(_("You are registered. We have sent you a confirmation by e-mail."), "success")
    else:
        flash(
            _(
                "The event is full: you are on the waiting list. If a place becomes free, "
                "we will e-mail you."
            ),
            "success",
        )
    return redirect(back, 303)


@bp.post("/events/<int:event_id>/register-by-email")
@_limit("RATELIMIT_MAIL")
def register_by_email(event_id: int) -> BaseResponse | tuple[str, int]:
    """Register without an account: send a confirmation link to the address given."""
    event = reading.get_event_with_projects(event_id)
    if event is None or not permissions.can_view_event(current_user, event):
        abort(404)
    back = url_for("events.show", event_id=event.id)
    if current_user.is_authenticated:
        flash(_("You are logged in: please register with the button."), "info")
        return redirect(back, 303)
    form = EmailRegistrationForm()
    if not event.takes_registrations():
        flash(_closed_message(event), "danger")
        return redirect(back, 303)
    if form.validate_on_submit():
        try:
            registrations.request_email_registration(
                event, form.email.data, str(get_locale() or "de")
            )
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            return redirect(url_for("events.check_mail", event_id=event.id), 303)
    return _show(event, form, status=422)


@bp.get("/events/<int:event_id>/check-mail")
def check_mail(event_id: int) -> str:
    """Tell the visitor to open the confirmation mail (the same text for every address)."""
    event = _event_or_404(event_id)
    return render_template("events/check_mail.html", event=event)


def _link_problem(message: str) -> tuple[str, int]:
    return render_template("events/link_problem.html", message=message), 400


@bp.route("/events/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> str | tuple[str, int] | BaseResponse:
    """Confirm a visitor's registration with a button (mail scanners confirm nothing)."""
    try:
        registration = links.registration_for_confirm_token(token)
    except RuleViolation as error:
        return _link_problem(error.message)
    event = registration.event
    form = ButtonForm()
    if form.validate_on_submit():
        try:
            registration, new = registrations.confirm_email_registration(token)
        except RuleViolation as error:
            flash(error.message, "danger")
            return redirect(url_for("events.show", event_id=event.id), 303)
        if not new:
            flash(_("Your registration was already confirmed."), "info")
        elif registration.status == RegistrationStatus.registered:
            flash(_("Thank you: you are registered. We have sent you an e-mail."), "success")
        else:
            flash(
                _(
                    "Thank you: the event is full, so you are on the waiting list. If a place "
                    "becomes free, we will e-mail you."
                ),
                "success",
            )
        return redirect(url_for("events.cancel_link", token=links.cancel_token(registration)), 303)
    return render_template("events/confirm.html", event=event, form=form)


@bp.route("/events/registration/<token>", methods=["GET", "POST"])
def cancel_link(token: str) -> str | tuple[str, int] | BaseResponse:
    """Show a registration from its mailed link and let the person cancel it, without login."""
    try:
        registration = links.registration_for_cancel_token(token)
    except RuleViolation as error:
        return _link_problem(error.message)
    event = registration.event
    form = ButtonForm()
    if form.validate_on_submit():
        try:
            registrations.cancel_by_token(token)
        except RuleViolation as error:
            return _link_problem(error.message)
        flash(_("Your registration is cancelled and deleted."), "success")
        return redirect(url_for("events.show", event_id=event.id), 303)
    position = None
    if registration.status == RegistrationStatus.waiting:
        position = reading.waiting_position(registration)
    return render_template(
        "events/registration.html",
        event=event,
        registration=registration,
        position=position,
        form=form,
    )


@bp.post("/events/<int:event_id>/unregister")
@login_required
def unregister(event_id: int) -> BaseResponse:
    """Give up one's place or waiting-list place (the first person waiting moves up)."""
    event = _event_or_404(event_id)
    back = url_for("events.show", event_id=event.id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    registration = reading.registration_of(current_user, event)
    if registration is None:
        flash(_("You were not registered for this event."), "info")
        return redirect(back, 303)
    permissions.require(permissions.can_cancel_registration(current_user, registration))
    registrations.cancel_registration(registration)
    flash(_("Your registration is cancelled."), "success")
    return redirect(back, 303)


def _ics(body: bytes, filename: str, *, download: bool) -> Response:
    disposition = "attachment" if download else "inline"
    return Response(
        body,
        mimetype="text/calendar",
        headers={"Content-Disposition": f'{disposition}; filename="{filename}"'},
    )


@bp.get("/events.ics")
def feed() -> Response:
    """Serve every published (and cancelled) event as an iCalendar feed to subscribe to."""
    body = calendar.calendar_ics(
        reading.public_events_for_feed(),
        name=_("Events of %(site)s", site=current_app.config["SITE_NAME"]),
    )
    return _ics(body, "kldialog-events.ics", download=False)


@bp.get("/events/<int:event_id>.ics")
def event_ics(event_id: int) -> Response:
    """Download one event as an iCalendar file."""
    event = _event_or_404(event_id)
    return _ics(
        calendar.calendar_ics([event], name=event.title), f"event-{event.id}.ics", download=True
    )


# --- staff ------------------------------------------------------------------------------------


def _staff_event_or_404(event_id: int) -> Event:
    permissions.require(permissions.can_manage_events(current_user))
    event = reading.get_event_with_projects(event_id)
    if event is None:
        abort(404)
    return event


def _fields(form: EventForm) -> staff.EventFields:
    starts_at, ends_at = form.times()
    return staff.EventFields(
        title=form.title.data or "",
        description=form.description.data or "",
        starts_at=starts_at,
        ends_at=ends_at,
        language=form.language.data,
        place=form.place.data or "",
        step_free=bool(form.step_free.data),
        hearing_loop=bool(form.hearing_loop.data),
        sign_language=bool(form.sign_language.data),
        accessibility_note=form.accessibility_note.data or "",
        online_url=form.online_url.data or "",
        capacity=form.capacity.data,
        project_ids=form.project_ids.data or [],
    )


def _form_data(event: Event) -> dict[str, Any]:
    return {
        "title": event.title,
        "description": event.description,
        "starts_at": local_input_value(event.starts_at),
        "ends_at": local_input_value(event.ends_at),
        "language": event.language,
        "place": event.place,
        "step_free": event.step_free,
        "hearing_loop": event.hearing_loop,
        "sign_language": event.sign_language,
        "accessibility_note": event.accessibility_note,
        "online_url": event.online_url,
        "capacity": event.capacity,
        "project_ids": [project.id for project in event.projects],
    }


@bp.get("/staff/events")
@login_required
def staff_index() -> str:
    """List every event for staff, drafts included."""
    permissions.require(permissions.can_manage_events(current_user))
    return render_template("events/staff/index.html", result=reading.staff_events(_page_number()))


@bp.route("/staff/events/new", methods=["GET", "POST"])
@login_required
def staff_new() -> str | BaseResponse:
    """Create a draft event."""
    permissions.require(permissions.can_manage_events(current_user))
    form = EventForm()
    form.project_ids.choices = project_choices()
    if form.validate_on_submit():
        try:
            event = staff.create_event(current_user, _fields(form))
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            flash(_("The event was created as a draft. Publish it when it is ready."), "success")
            return redirect(url_for("events.staff_edit", event_id=event.id), 303)
    return render_template("events/staff/event_form.html", form=form, event=None)


@bp.route("/staff/events/<int:event_id>", methods=["GET", "POST"])
@login_required
def staff_edit(event_id: int) -> str | BaseResponse:
    """Change an event; shows its state, registrations and actions."""
    event = _staff_event_or_404(event_id)
    form = EventForm(data=_form_data(event))
    form.project_ids.choices = project_choices()
    if form.validate_on_submit():
        try:
            changed = staff.update_event(current_user, event, _fields(form))
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            if changed:
                flash(_("The event was saved. Calendars pick up the change."), "success")
            else:
                flash(_("Nothing was changed."), "info")
            return redirect(url_for("events.staff_edit", event_id=event.id), 303)
    return render_template(
        "events/staff/event_form.html", form=form, event=event, action_form=ButtonForm()
    )


@bp.post("/staff/events/<int:event_id>/publish")
@login_required
def staff_publish(event_id: int) -> BaseResponse:
    """Publish a draft event."""
    event = _staff_event_or_404(event_id)
    return staff_button(
        lambda: staff.publish_event(current_user, event),
        done=_("The event is published."),
        back=url_for("events.staff_edit", event_id=event.id),
    )


@bp.route("/staff/events/<int:event_id>/cancel", methods=["GET", "POST"])
@login_required
def staff_cancel(event_id: int) -> str | BaseResponse:
    """Ask, then cancel an event; everyone registered or waiting gets a mail."""
    event = _staff_event_or_404(event_id)
    form = CancelForm()
    if form.validate_on_submit():
        try:
            told = staff.cancel_event(current_user, event, form.reason.data or "")
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            flash(
                _("The event is cancelled. %(num)d people were told by e-mail.", num=told),
                "success",
            )
            return redirect(url_for("events.staff_edit", event_id=event.id), 303)
    return render_template("events/staff/cancel.html", event=event, form=form)


@bp.route("/staff/events/<int:event_id>/summary", methods=["GET", "POST"])
@login_required
def staff_summary(event_id: int) -> str | BaseResponse:
    """Write or correct the summary of an event that is over."""
    event = _staff_event_or_404(event_id)
    form = SummaryForm(data={"summary": event.summary})
    if form.validate_on_submit():
        try:
            staff.publish_summary(current_user, event, form.summary.data)
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            flash(_("The summary is published."), "success")
            return redirect(url_for("events.staff_edit", event_id=event.id), 303)
    return render_template("events/staff/summary.html", event=event, form=form)

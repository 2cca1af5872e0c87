"""Send e-mail: SMTP when configured, otherwise .eml files in instance/outbox/.

Mail is sent after the action it reports on has been committed, so a failing mail server must
never turn a saved action into an error page: delivery errors are logged (without the
address), the person is told the mail could not be sent, and the caller gets None.
"""

from __future__ import annotations

import logging
import os
import secrets
import smtplib
import ssl
import threading
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from flask import Flask, current_app, flash, g, has_request_context, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

log = logging.getLogger(__name__)

# What a mail server or a full disk raises; anything else is a bug and should be seen.
DELIVERY_ERRORS = (smtplib.SMTPException, OSError, ssl.SSLError)
_background: list[threading.Thread] = []


def send_mail(
    to: str,
    subject: str,
    template: str,
    *,
    language: str = "de",
    headers: dict[str, str] | None = None,
    background: bool = False,
    discard: bool = False,
    **context: object,
) -> EmailMessage | None:
    """Render templates/mail/<template>.txt in the recipient's language and send it.

    Returns None if the mail could not be delivered. `background=True` hands delivery to a
    thread, so the answer does not wait for the mail server: for mails whose existence must not
    show in the response time (registration, password reset). Their failures are only logged.
    `discard=True` builds the message and sends nothing: for an unknown address, so that the
    answer takes as long as for a known one.
    """
    with force_locale(language):
        body = render_template(f"mail/{template}.txt", **context)
        subject = str(subject)
    message = build_message(to, subject, body, headers)
    if discard:
        return None
    if background and _background_enabled():
        # The real app, not the proxy: the thread runs outside this request.
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        thread = threading.Thread(target=_deliver_in_background, args=(app, message))
        _background.append(thread)
        thread.start()
        return message
    if deliver(message):
        return message
    if not background:
        _tell_the_person()
    return None


def build_message(
    to: str, subject: str, body: str, headers: dict[str, str] | None = None
) -> EmailMessage:
    """Return a plain-text message from MAIL_FROM with the headers every mail carries."""
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(
        domain=current_app.config["MAIL_FROM"].rsplit("@", 1)[-1].rstrip(">")
    )
    message["Auto-Submitted"] = "auto-generated"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message


def deliver(message: EmailMessage) -> bool:
    """Send a built message; log a failure without the address and return False."""
    try:
        if current_app.config["MAIL_SERVER"]:
            _send_smtp(message)
        else:
            _write_outbox(message)
    except DELIVERY_ERRORS as error:
        log.warning("Mail %r could not be sent: %s", str(message["Subject"]), type(error).__name__)
        return False
    return True


def wait_for_background_mail(timeout: float = 10) -> None:
    """Wait until mails handed to background threads are delivered (tests, CLI)."""
    while _background:
        _background.pop().join(timeout)


def _background_enabled() -> bool:
    """Return whether background delivery is on (MAIL_BACKGROUND; default: off in tests)."""
    setting = current_app.config.get("MAIL_BACKGROUND")
    return (not current_app.testing) if setting is None else bool(setting)


def _deliver_in_background(app: Flask, message: EmailMessage) -> None:
    with app.app_context():
        deliver(message)


def _tell_the_person() -> None:
    """Flash once per request that a mail could not be sent, and that nothing is lost."""
    if not has_request_context() or g.get("mail_failure_told"):
        return
    g.mail_failure_told = True
    flash(
        _(
            "We could not send an e-mail just now. What you did has been saved. "
            "If you were waiting for a link, please request it again in a few minutes."
        ),
        "warning",
    )


class MailBatch:
    """One SMTP connection (or the outbox) for many messages: for the queue sender.

    Opening a connection per message would cost a TLS handshake and a login each time; a batch
    of thousands of mails shares one. A message the server refuses raises from `send` and the
    connection stays usable; a lost connection is opened again once for the next message.
    """

    def __init__(self) -> None:
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> MailBatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        """Return whether the next message can go out without connecting first."""
        return self._smtp is not None or not current_app.config["MAIL_SERVER"]

    def send(self, message: EmailMessage) -> None:
        """Deliver one message; DELIVERY_ERRORS propagate for the caller to retry later."""
        if not current_app.config["MAIL_SERVER"]:
            _write_outbox(message)
            return
        if self._smtp is None:
            self._smtp = _open_smtp()
        try:
            self._smtp.send_message(message)
        except smtplib.SMTPServerDisconnected:
            self._smtp = None
            raise

    def close(self) -> None:
        """Say QUIT; a server that is already gone does not matter any more."""
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except DELIVERY_ERRORS:
                self._smtp.close()
            self._smtp = None


def _send_smtp(message: EmailMessage) -> None:
    """Deliver through the configured SMTP server (STARTTLS or implicit TLS)."""
    with _open_smtp() as smtp:
        smtp.send_message(message)


def _open_smtp() -> smtplib.SMTP:
    """Connect and log in to the configured SMTP server (STARTTLS or implicit TLS)."""
    config = current_app.config
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if config["MAIL_USE_SSL"]:
        smtp = smtplib.SMTP_SSL(
            config["MAIL_SERVER"], config["MAIL_PORT"], timeout=20, context=context
        )
    else:
        smtp = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=20)
    try:
        if config["MAIL_USE_TLS"] and not config["MAIL_USE_SSL"]:
            smtp.starttls(context=context)
        if config["MAIL_USERNAME"]:
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
    except BaseException:
        smtp.close()
        raise
    return smtp


def _write_outbox(message: EmailMessage) -> None:
    """Keep the message as an .eml file, so `make run` works without a mail server."""
    outbox = current_app.config["MAIL_OUTBOX"] or os.path.join(current_app.instance_path, "outbox")
    os.makedirs(outbox, mode=0o700, exist_ok=True)
    name = f"{formatdate(usegmt=True).replace(' ', '_').replace(':', '-').replace(',', '')}"
    path = os.path.join(outbox, f"{name}-{secrets.token_hex(4)}.eml")
    # The file holds confirmation and reset links: readable by the owner only.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(bytes(message))
    log.info("Mail %r written to %s", str(message["Subject"]), path)

"""Send e-mail: SMTP when configured, otherwise .eml files in instance/outbox/."""

from __future__ import annotations

import logging
import os
import secrets
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from flask import current_app, render_template
from flask_babel import force_locale

log = logging.getLogger(__name__)


def send_mail(
    to: str,
    subject: str,
    template: str,
    *,
    language: str = "de",
    headers: dict[str, str] | None = None,
    **context: object,
) -> EmailMessage:
    """Render templates/mail/<template>.txt in the recipient's language and send it."""
    with force_locale(language):
        body = render_template(f"mail/{template}.txt", **context)
        subject = str(subject)
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
    if current_app.config["MAIL_SERVER"]:
        _send_smtp(message)
    else:
        _write_outbox(message)
    return message


def _send_smtp(message: EmailMessage) -> None:
    """Deliver through the configured SMTP server (STARTTLS or implicit TLS)."""
    config = current_app.config
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if config["MAIL_USE_SSL"]:
        smtp = smtplib.SMTP_SSL(
            config["MAIL_SERVER"], config["MAIL_PORT"], timeout=20, context=context
        )
    else:
        smtp = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=20)
    with smtp:
        if config["MAIL_USE_TLS"] and not config["MAIL_USE_SSL"]:
            smtp.starttls(context=context)
        if config["MAIL_USERNAME"]:
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
        smtp.send_message(message)


def _write_outbox(message: EmailMessage) -> None:
    """Keep the message as an .eml file, so `make run` works without a mail server."""
    outbox = current_app.config["MAIL_OUTBOX"] or os.path.join(current_app.instance_path, "outbox")
    os.makedirs(outbox, exist_ok=True)
    name = f"{formatdate(usegmt=True).replace(' ', '_').replace(':', '-').replace(',', '')}"
    path = os.path.join(outbox, f"{name}-{secrets.token_hex(4)}.eml")
    with open(path, "wb") as handle:
        handle.write(bytes(message))
    log.info("Mail to %s, %r, written to %s", message["To"], message["Subject"], path)

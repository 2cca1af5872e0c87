"""Structured logging: one line per record (key=value or JSON), and no personal data in it.

`configure_logging` puts one handler on the root logger, so every record (the app's, the
libraries', the development server's request log) goes through `RedactFilter`: e-mail
addresses, IP addresses and the secret part of token links are replaced before anything is
written. The development server's request line loses its client address and date prefix.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from typing import IO, Any

# Routes whose last segment is a secret (issue 10 §7): confirmation, reset, unsubscribe links.
TOKEN_PATHS = re.compile(
    r"(/(?:account/email/confirm|password/reset|events/confirm|events/registration|confirm"
    r"|unsubscribe)/)[\w.~%-]+"
)
# Also percent-encoded (%40), as an address appears in a query string of the request log.
EMAIL = re.compile(r"[\w.!#$&'*+^`{|}~-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
# Only forms with "::" or eight groups, so times such as 22:05:00 stay readable.
IPV6 = re.compile(
    r"(?<![\w:.])(?=[0-9A-Fa-f:]*::|(?:[0-9A-Fa-f]{1,4}:){7})[0-9A-Fa-f:]{2,39}(?![\w:])"
)
# "127.0.0.1 - - [02/Dec/2026 22:05:00] " in front of werkzeug's request lines.
WERKZEUG_PREFIX = re.compile(r"^\S+ - - \[[^\]]*\] ")
ANSI_STYLE = re.compile(r"\x1b\[[0-9;]*m")  # werkzeug colours status lines for a terminal
FORMATS = ("keyvalue", "json")


def redact(text: str) -> str:
    """Replace e-mail addresses, IP addresses and token segments of links."""
    text = TOKEN_PATHS.sub(r"\1<token>", text)
    text = EMAIL.sub("<email>", text)
    text = IPV4.sub("<ip>", text)
    return IPV6.sub("<ip>", text)


class RedactFilter(logging.Filter):
    """Rewrite each record's message and traceback without personal data (never drops one)."""

    def __init__(self) -> None:
        super().__init__()
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, redacted, so no handler sees the raw arguments."""
        message = record.getMessage()
        if record.name == "werkzeug":
            message = ANSI_STYLE.sub("", WERKZEUG_PREFIX.sub("", message))
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class LineFormatter(logging.Formatter):
    """Write a record as one line: `ts=... level=... logger=... msg="..."` or a JSON object."""

    def __init__(self, fmt: str = "keyvalue") -> None:
        super().__init__()
        if fmt not in FORMATS:
            raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
        self.fmt = fmt

    def format(self, record: logging.LogRecord) -> str:
        """Return the record's fields on one line; a traceback goes into `exc`, escaped."""
        fields: dict[str, str] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            fields["exc"] = record.exc_text
        if record.stack_info:
            fields["stack"] = record.stack_info
        if self.fmt == "json":
            return json.dumps(fields, ensure_ascii=False)
        return " ".join(f"{key}={_value(text)}" for key, text in fields.items())


def _value(text: str) -> str:
    """Quote a value when it has spaces, quotes or line breaks (always one line)."""
    if text and not any(char in text for char in ' "=\n\r\t\\'):
        return text
    return json.dumps(text, ensure_ascii=False)


class LineHandler(logging.StreamHandler[IO[str]]):
    """Write to the given stream, or to whatever sys.stderr is at the moment of writing."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream if stream is not None else sys.stderr)
        self._fixed = stream

    @property
    def stream(self) -> IO[str]:
        """Return the stream to write to (sys.stderr is looked up late: tests replace it)."""
        return self._fixed if self._fixed is not None else sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        """Ignore StreamHandler's own assignment; the stream is chosen above."""


def configure_logging(
    level: str = "INFO", fmt: str = "keyvalue", stream: IO[str] | None = None
) -> None:
    """Install the one root handler (replacing an earlier one of ours); set the root level.

    Calling it again (every test builds an app) replaces the handler instead of adding one.
    Werkzeug's own colour handler is removed, so its request log goes through the filter.
    """
    numeric = logging.getLevelName(str(level).upper())
    if not isinstance(numeric, int):
        raise ValueError(f"LOG_LEVEL must be a level name such as INFO, not {level!r}")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, LineHandler)]:
        root.removeHandler(handler)
    handler = LineHandler(stream)
    handler.addFilter(RedactFilter())
    handler.setFormatter(LineFormatter(fmt))
    root.addHandler(handler)
    root.setLevel(numeric)
    werkzeug = logging.getLogger("werkzeug")
    for other in [h for h in werkzeug.handlers if type(h).__name__ == "_ColorStreamHandler"]:
        werkzeug.removeHandler(other)

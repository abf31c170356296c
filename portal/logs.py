"""Keydrop's log lines: a request id on each, tokens redacted from all, JSON when LOG_FORMAT=json.

An intake link, a submission's address, a calendar address and a staff enrolment link each carry a
token that works as a key (anyone holding it may submit, follow a verification, read the calendar,
set up a second factor with the account's password). Those paths appear
in request lines, in Django's "Not Found: /i/…" warnings and in error-mail subjects, so the filter
on every handler rewrites them before any line is written.
"""

import contextvars
import datetime
import json
import logging
import re

request_id = contextvars.ContextVar("keydrop_request_id", default="-")

# /i/<token>/…, /s/<public id>/…, /calendar/<token>.ics, a staff member's enrolment link
# /admin/two-step/enrol/<token>/; the token is the segment after the prefix.
TOKEN_PATHS = re.compile(r"(?P<prefix>/(?:i|s|calendar|admin/two-step/enrol)/)[A-Za-z0-9_-]+")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    return TOKEN_PATHS.sub(lambda match: match["prefix"] + REDACTED, text)


class KeydropFilter(logging.Filter):
    """Adds the request id and redacts tokens; on every handler, so no line escapes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, and fields a line adds."""

    EXTRA_FIELDS = ("method", "path", "status", "duration_ms", "client_ip")

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", request_id.get()),
        }
        for name in self.EXTRA_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = record.exc_text or redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)

"""Logging for `run`: one JSON object per line (or plain text), for the gateway, faust, mode and librdkafka.

Log messages name topics, counts, key versions and reasons; never an event's value.
A field passed with `extra=` becomes a key of the JSON object, so a message can stay
short and the data stay queryable.
"""

from __future__ import annotations

import logging
import logging.config
import time
from typing import Any, Literal

import orjson

LogFormat = Literal["json", "text"]
FORMATS: tuple[LogFormat, ...] = ("json", "text")

# Attributes every LogRecord has: anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """A record as one JSON line: time (UTC, ISO 8601), level, logger, message, then its extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        entry: dict[str, Any] = {
            "time": f"{seconds}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_") and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


def logging_config(log_format: LogFormat, level: str | int = "INFO") -> dict[str, Any]:
    """A logging.config.dictConfig for the whole process, also handed to faust's Worker.

    mode's Worker clears the root handlers and applies its `logging_config` when it
    starts; given this one, faust's and mode's own records come out in the same format.
    """
    if isinstance(level, str):
        level = level.upper()
    formatter: dict[str, Any] = {"()": JsonFormatter} if log_format == "json" else {"format": _TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"gateway": formatter},
        "handlers": {
            "gateway": {
                "class": "logging.StreamHandler",
                "formatter": "gateway",
                "level": level,
                # stderr, not stdout: mode redirects stdout into logging, which would loop.
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["gateway"]},
    }


_active: LogFormat | None = None


def configure(log_format: LogFormat, level: str | int = "INFO") -> dict[str, Any]:
    """Log in `log_format` from now on (warnings included); returns the config for faust's Worker."""
    global _active
    config = logging_config(log_format, level)
    logging.config.dictConfig(config)
    logging.captureWarnings(True)
    _active = log_format
    return config


def active_format() -> LogFormat | None:
    """The format configure() set, or None when this process never configured logging."""
    return _active


def kafka_client_logger() -> logging.Logger:
    """librdkafka's logs as Python records (its `logger` setting), instead of raw lines on stderr."""
    return logging.getLogger("librdkafka")

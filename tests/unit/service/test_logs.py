"""`run`'s log format: one JSON object per line with structured fields, or plain text."""

from __future__ import annotations

import io
import logging
import logging.config
import sys

import orjson

from streams.service.logs import JsonFormatter, logging_config


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("streams.test", logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_a_record_is_one_json_line_with_time_level_logger_message_and_its_fields() -> None:
    line = JsonFormatter().format(_record("held %d batches", 3, topic="events.eu", batches=3))
    assert "\n" not in line
    entry = orjson.loads(line)
    assert entry["level"] == "WARNING" and entry["logger"] == "streams.test"
    assert entry["message"] == "held 3 batches"
    assert entry["topic"] == "events.eu" and entry["batches"] == 3
    assert entry["time"].endswith("Z") and entry["time"][10] == "T"
    assert not {"args", "msg", "levelno", "pathname"} & entry.keys()


def test_an_exception_stays_inside_its_line() -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
        record.exc_info = sys.exc_info()
    entry = orjson.loads(JsonFormatter().format(record))
    assert "ValueError: bad" in entry["exception"]


def test_a_field_that_is_not_json_is_written_as_text() -> None:
    entry = orjson.loads(JsonFormatter().format(_record("x", where=object())))
    assert entry["where"].startswith("<object object")


def _emit(fmt: str) -> str:
    stream = io.StringIO()
    config = logging_config(fmt, "info")  # type: ignore[arg-type]
    config["handlers"]["gateway"]["stream"] = stream
    logging.config.dictConfig(config)
    try:
        logging.getLogger("faust.worker").info("[^Worker]: Ready")
        logging.getLogger("streams.cli").debug("below the level")
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
        logging.root.handlers.clear()
    return stream.getvalue()


def test_the_json_config_formats_other_libraries_records_too() -> None:
    (line,) = _emit("json").splitlines()
    assert orjson.loads(line)["logger"] == "faust.worker"


def test_the_text_format_is_one_plain_line() -> None:
    (line,) = _emit("text").splitlines()
    assert line.endswith("INFO faust.worker: [^Worker]: Ready") and not line.startswith("{")

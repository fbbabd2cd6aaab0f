"""The Strimzi Kafka Bridge example in docs/operations.md: its event, read out of the page, run through.

The bridge itself is not run (its jars don't resolve through Maven here, and there is no
Docker for its image); the page says so. What this pins is the part that needs no bridge:
the curl posts the JSON embedded format, the record's `value` is a Segment event object,
and the pipeline reads that event as segment and routes it home to eu by its context.ip,
whether it arrives as the page spells it or re-serialized, as the bridge writes it.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.config import load_config
from streams.keys.ring import development_keys
from streams.outcomes import Outcome, Source
from streams.pipeline import Pipeline

OPERATIONS = Path(__file__).resolve().parents[3] / "docs" / "operations.md"
SECTION = "### A Segment-compatible HTTP-to-Kafka bridge"


def doc_curl() -> tuple[str, str, bytes]:
    """The section's curl: its URL, its Content-Type and its -d body, as the page has them."""
    text = OPERATIONS.read_text(encoding="utf-8")
    section = text[text.index(SECTION) :]
    section = section[: section.index("\n### ", len(SECTION))]
    [block] = re.findall(r"```sh\n(curl .*?)```", section, flags=re.DOTALL)
    words = shlex.split(block.replace("\\\n", " "))
    headers = [words[i + 1] for i, word in enumerate(words) if word == "-H"]
    [content_type] = [h.split(":", 1)[1].strip() for h in headers if h.lower().startswith("content-type:")]
    body = words[words.index("-d") + 1].encode()
    url = next(word for word in words if word.startswith("http"))
    return url, content_type, body


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    config = load_config(None)
    return Pipeline(config, development_keys(config.key_regions()))


def doc_record() -> dict[str, Any]:
    body = orjson.loads(doc_curl()[2])
    assert set(body) == {"records"}
    [record] = body["records"]
    assert isinstance(record, dict)
    return record


def test_the_doc_posts_the_json_embedded_format_to_an_ingest_topic() -> None:
    url, content_type, _body = doc_curl()
    assert content_type == "application/vnd.kafka.json.v2+json"
    assert url.endswith("/topics/events.ingest")
    assert "events.ingest" in load_config(None).topics.ingest


def test_the_record_is_keyed_by_its_user_and_carries_the_event_object_as_its_value() -> None:
    record = doc_record()
    # An object, not a string: in the JSON embedded format a string value would land quoted.
    assert isinstance(record["value"], dict)
    assert record["key"] == record["value"]["userId"]


@pytest.mark.parametrize("spelling", ["as the page spells it", "re-serialized compactly"])
def test_the_docs_event_is_read_as_segment_and_routed_to_eu_by_its_ip(
    pipeline: Pipeline, spelling: str
) -> None:
    body, record = doc_curl()[2], doc_record()
    if spelling == "as the page spells it":  # the value's own bytes, cut out of the body
        raw = body[body.index(b'"value":') + len(b'"value":') : body.rindex(b"}]}")]
    else:  # as the bridge writes it back out
        raw = orjson.dumps(record["value"])
    assert orjson.loads(raw) == record["value"]
    key = orjson.dumps(record["key"])  # what the JSON embedded format stores: "u1", quotes included
    [result] = pipeline.process(raw, Source("events.ingest", 0, 0), key)
    assert result.error is None, result.error
    assert result.format == "segment"
    assert result.decision is not None
    assert (result.decision.region, result.decision.signal) == ("eu", "ip")
    assert result.decision.reason == "ip: GB -> eu (context.ip)"
    assert [(o.topic, o.outcome) for o in result.outputs] == [
        ("events.eu", Outcome.ROUTED),
        ("events.global", Outcome.EXPORTED),
    ]
    home = result.outputs[0]
    assert (home.value, home.key) == (raw, key)  # the home region gets the record as it is

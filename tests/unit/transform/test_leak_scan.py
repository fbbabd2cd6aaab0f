"""The leak scan: SDK-made events full of canaries, and not one canary in any form in what leaves."""

from __future__ import annotations

from collections import Counter

import pytest

from streams.config import load_config
from streams.keys.ring import KeyRing, PseudonymKey
from streams.outcomes import EventResult, Source
from streams.pipeline import Pipeline
from tests.collectors import canaries
from tests.collectors.canaries import canary_forms, canary_payloads, hostile_canary_payloads

KEYS = KeyRing([PseudonymKey(region, 1, bytes([n]) * 32) for n, region in enumerate(
    ["eu", "us", "cn", "in", "ru", "row"], start=1)])  # fmt: skip
FORMS = canary_forms()
HOSTILE = hostile_canary_payloads()
EVERY_FORMAT = sorted({name for name, _ in HOSTILE})


@pytest.fixture(scope="module")
def results() -> list[tuple[str, EventResult]]:
    pipeline = Pipeline(load_config(None), KEYS)
    return [
        (name, result)
        for offset, (name, payload) in enumerate([*HOSTILE, *canary_payloads()])
        for result in pipeline.process(payload, Source("events.ingest", 0, offset))
    ]


def leaked(text: str) -> list[str]:
    lowered = text.lower()
    return [form for form in FORMS if form.lower() in lowered]


def test_every_hostile_payload_is_routed_home_and_exported(results: list[tuple[str, EventResult]]) -> None:
    # The scan below means something only if copies were made: every event goes to eu and global.
    exported = Counter(
        name for name, result in results for out in result.outputs if out.topic == "events.global"
    )
    assert set(exported) == set(EVERY_FORMAT), exported
    for name, result in results:
        assert result.error is None and result.decision is not None, (name, result.error)
        assert result.decision.region == "eu", (name, result.decision.reason)


@pytest.mark.parametrize("format_name", EVERY_FORMAT)
def test_no_canary_in_any_form_reaches_a_copy_that_leaves(
    results: list[tuple[str, EventResult]], format_name: str
) -> None:
    for name, result in results:
        if name != format_name:
            continue
        for out in result.outputs:
            if out.topic == "events.eu":
                continue  # the home region holds the event as it came
            text = out.value.decode("utf-8", errors="replace")
            assert not leaked(text), f"{out.topic} ({name}): {leaked(text)}"


def test_no_canary_in_any_form_reaches_the_audit_record(results: list[tuple[str, EventResult]]) -> None:
    import orjson

    for name, result in results:
        text = orjson.dumps(result.audit).decode()
        assert not leaked(text), f"audit ({name}): {leaked(text)}"


def test_the_canaries_do_reach_the_home_region_so_the_scan_can_fail(
    results: list[tuple[str, EventResult]],
) -> None:
    homes = "".join(
        out.value.decode("utf-8", errors="replace") for _, result in results for out in result.outputs
        if out.topic == "events.eu"
    )  # fmt: skip
    for canary in (canaries.EMAIL, canaries.USER_ID, canaries.ANONYMOUS_ID, canaries.DEVICE_ID,
                   canaries.AD_ID, canaries.SESSION_ID, canaries.TRAIT_ID, canaries.FIRST, canaries.LAST,
                   canaries.IP):  # fmt: skip
        assert canary in homes

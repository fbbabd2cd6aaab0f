"""docs/transforms.md says what the code does: its allowlist tables are the code's, its examples work."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from click.testing import CliRunner

from streams.cli import main
from streams.config import parse_config
from streams.formats.allowlist import table
from streams.formats.detect import BUILT_IN_FORMATS
from streams.keys.ring import KeyRing, PseudonymKey
from streams.outcomes import Source
from streams.pipeline import Pipeline
from streams.transform.pseudonymize import pseudonym

DOC = (Path(__file__).parents[3] / "docs" / "transforms.md").read_text()
TABLES = dict(re.findall(r"<!-- allowlist: (\w+) -->\n(.*?)\n<!-- /allowlist -->", DOC, flags=re.S))
EXAMPLES = re.findall(r"```yaml\n(.*?)```", DOC, flags=re.S)
KEYS = KeyRing([PseudonymKey(region, 1, bytes([n]) * 32) for n, region in enumerate(["eu", "row"], start=1)])


@pytest.mark.parametrize("collector", [f for f in BUILT_IN_FORMATS if f.name != "snowplow_get"], ids=str)
def test_each_formats_table_is_its_allowlist(collector: Any) -> None:
    assert TABLES[collector.name] == table(collector.allowed)


def test_the_allowlist_command_prints_the_same_table() -> None:
    printed = CliRunner().invoke(main, ["allowlist", "--format", "ga4"])
    assert printed.exit_code == 0, printed.output
    assert TABLES["ga4"] in printed.output
    assert "every other field is dropped" in printed.output


def policy_with(example: str) -> str:
    """The example in a policy whose eu region sends a copy to every destination it names."""
    document = {"policy_version": "doc", **yaml.safe_load(example)}
    destinations = document.setdefault("destinations", {"global": {"topic": "events.global"}})
    document["regions"] = {
        "eu": {"countries": ["EU27", "GB"], "topic": "events.eu",
               "transfers": dict.fromkeys(destinations, "pseudonymized")},
        "row": {"countries": "*", "topic": "events.row"},
    }  # fmt: skip
    return yaml.safe_dump(document)


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_policy_example_in_the_doc_is_valid(example: str) -> None:
    parse_config(policy_with(example))


def test_the_keep_example_keeps_what_it_says_and_still_pseudonymizes_kept_personal_keys() -> None:
    [keeping] = [example for example in EXAMPLES if "products[*].color" in example]
    pipeline = Pipeline(parse_config(policy_with(keeping)), KEYS)
    event = {"type": "identify", "userId": "u-1", "context": {"ip": "81.2.69.142"},
             "traits": {"plan": "pro", "email": "Jane@X.example", "first_name": "Jane", "secret": "s"},
             "properties": {"plan": "team",
                            "products": [{"sku": "a", "color": "red", "note": "n"}]}}  # fmt: skip
    [result] = pipeline.process(orjson.dumps(event), Source("events.ingest", 0, 0))
    copy = orjson.loads(next(out.value for out in result.outputs if out.topic == "events.global"))
    assert copy["traits"] == {"plan": "pro"}
    assert copy["properties"] == {"plan": "team", "products": [{"sku": "a", "color": "red"}]}
    assert pseudonym("u-1", KEYS.for_region("eu")) == copy["userId"]

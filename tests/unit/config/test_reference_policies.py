"""The two policies we ship: the fully commented reference (the default) and the minimal one."""

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from streams.config import GatewayConfig, load_config

CONFIG_DIR = Path(__file__).resolve().parents[3] / "config"


def settings_of(model: type[BaseModel]) -> set[str]:
    """Every key a config file can hold, down through nested settings."""
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        keys.add(field.alias or name)
        keys |= _nested(field.annotation)
    return keys


def _nested(annotation: Any) -> set[str]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return settings_of(annotation)
    found: set[str] = set()
    for argument in getattr(annotation, "__args__", ()):
        found |= _nested(argument)
    return found


def test_the_reference_policy_documents_every_setting() -> None:
    text = (CONFIG_DIR / "policy.yaml").read_text()
    undocumented = sorted(key for key in settings_of(GatewayConfig) if f"{key}:" not in text)
    assert undocumented == []


def test_both_shipped_policies_load() -> None:
    for name in ("policy.yaml", "minimal.yaml"):
        assert load_config(CONFIG_DIR / name).regions


def test_the_minimal_policy_routes_exactly_like_the_reference() -> None:
    minimal, reference = load_config(CONFIG_DIR / "minimal.yaml"), load_config(CONFIG_DIR / "policy.yaml")
    assert minimal.country_regions() == reference.country_regions()
    assert minimal.all_topics() == reference.all_topics()
    assert [name for name, region in minimal.regions.items() if region.transfers] == [
        name for name, region in reference.regions.items() if region.transfers
    ]
    assert minimal.jurisdiction == reference.jurisdiction

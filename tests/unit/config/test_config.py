"""The config loader: the shipped policy, and every mistake reported with its path."""

from pathlib import Path

import pytest

from streams.config import ConfigError, load_config, parse_config
from streams.config.countries import EU27

REPO = Path(__file__).resolve().parents[3]

MINIMAL = """
policy_version: test-1
regions:
  eu: {countries: [EU27], topic: t.eu, transfers: {global: pseudonymized}}
  row: {countries: "*", topic: t.row}
"""


def test_shipped_policy_matches_the_default_table() -> None:
    config = load_config(REPO / "config" / "policy.yaml")
    regions = config.country_regions()
    assert {c for c, r in regions.items() if r == "eu"} == EU27 | {"IS", "LI", "NO", "CH", "GB"}
    assert {c for c, r in regions.items() if r == "us"} == {"US", "PR", "GU", "VI", "AS", "MP"}
    assert regions["CN"] == "cn" and regions["IN"] == "in" and regions["RU"] == "ru"
    assert regions["BR"] == "row" and regions["JP"] == "row"
    assert [name for name, region in config.regions.items() if region.transfers] == ["eu", "us", "in", "row"]


def test_packaged_default_is_the_repository_policy() -> None:
    assert load_config(None) == load_config(REPO / "config" / "policy.yaml")


def test_minimal_config_fills_defaults() -> None:
    config = parse_config(MINIMAL)
    assert config.topics.quarantine == "events.quarantine"
    assert config.kafka.acks == "all"


def test_conflicting_signals_are_quarantined_unless_the_policy_says_otherwise() -> None:
    assert parse_config(MINIMAL).jurisdiction.on_conflict == "quarantine"
    assert load_config(REPO / "config" / "policy.yaml").jurisdiction.on_conflict == "quarantine"
    for choice in ("precedence", "quarantine", "strictest"):
        config = parse_config(MINIMAL + f"jurisdiction: {{on_conflict: {choice}}}\n")
        assert config.jurisdiction.on_conflict == choice


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return caught.value.problems


def test_every_mistake_is_reported_at_once_with_its_path() -> None:
    problems = problems_of(
        """
policy_version: x
regions:
  eu: {countries: [DE, FR, IT, XX], topic: t.eu, colour: blue}
  us: {countries: 7, topic: t.us, transfers: sometimes}
kafka: {batch_size: 0}
"""
    )
    assert any(p.startswith("regions.eu.countries[3]: 'XX' is not an ISO 3166-1 country") for p in problems)
    assert "regions.eu.colour: unknown key" in problems
    assert any(p.startswith("regions.us.countries: must be a list of countries or '*'") for p in problems)
    assert any(p.startswith("regions.us.transfers:") for p in problems)
    assert any(p.startswith("kafka.batch_size:") for p in problems)
    assert len(problems) == 5


def test_a_country_in_two_regions_is_rejected() -> None:
    problems = problems_of(
        """
policy_version: x
regions:
  eu: {countries: [EU27], topic: t.eu}
  de: {countries: [DE], topic: t.de}
"""
    )
    assert problems == ["regions.de.countries[0]: 'DE' already belongs to region 'eu'"]


@pytest.mark.parametrize("group", ["EU27", "EEA"])
def test_eu_groups_hold_the_outermost_regions_and_aland_which_gdpr_covers(group: str) -> None:
    config = parse_config(MINIMAL.replace("[EU27]", f"[{group}]"))
    regions = config.country_regions()
    assert {code: regions[code] for code in ("AX", "GF", "GP", "MQ", "RE", "YT", "MF")} == dict.fromkeys(
        ("AX", "GF", "GP", "MQ", "RE", "YT", "MF"), "eu"
    )
    assert regions["BL"] == regions["PM"] == "row"  # overseas countries and territories: not the EU


def test_a_region_may_name_a_territory_its_group_already_holds() -> None:
    config = parse_config(MINIMAL.replace("[EU27]", "[EU27, RE, FR]"))
    assert config.country_regions()["RE"] == "eu"


def test_a_territory_claimed_by_two_regions_is_rejected() -> None:
    problems = problems_of(
        """
policy_version: x
regions:
  eu: {countries: [EU27], topic: t.eu}
  reunion: {countries: [RE], topic: t.re}
"""
    )
    assert problems == ["regions.reunion.countries[0]: 'RE' already belongs to region 'eu'"]


def test_shared_topics_and_reserved_names_are_rejected() -> None:
    problems = problems_of(
        """
policy_version: x
topics: {quarantine: t.eu}
regions:
  eu: {countries: [FR], topic: t.eu}
  global: {countries: [US], topic: t.us}
"""
    )
    assert any(p.startswith("regions.global:") for p in problems)
    assert "regions.eu.topic: topic 't.eu' is already used by topics.quarantine" in problems


def test_duplicate_yaml_keys_are_an_error_not_a_silent_override() -> None:
    problems = problems_of("policy_version: a\npolicy_version: b\n")
    assert problems == ["<yaml> line 2, column 1: duplicate key 'policy_version'"]


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="can't read the file"):
        load_config(tmp_path / "absent.yaml")


def test_min_insync_above_replication_is_rejected() -> None:
    problems = problems_of(MINIMAL + "kafka: {replication_factor: 1, min_insync_replicas: 2}\n")
    assert any(p.startswith("kafka.min_insync_replicas:") for p in problems)


def test_jurisdiction_and_format_mistakes_carry_their_paths() -> None:
    problems = problems_of(
        MINIMAL
        + """
topics:
  ingest: [t.in]
  ingest_formats: {t.other: segment, t.in: generic}
jurisdiction:
  signals: [ip, ip, horoscope]
  on_conflict: coin-flip
  fields: {segment: {declared: ["context..residency"]}, nosuch: {}}
"""
    )
    assert any(p.startswith("jurisdiction.signals[2]:") for p in problems)
    assert any(p.startswith("jurisdiction.on_conflict:") for p in problems)
    assert any(p.startswith("jurisdiction.fields.segment.declared[0]:") for p in problems)
    assert any(p.startswith("jurisdiction.fields.nosuch") for p in problems)
    assert len(problems) == 4
    assert problems_of(MINIMAL + "jurisdiction: {signals: [ip, ip]}\n") == [
        "jurisdiction.signals: each signal may appear once; repeated: ip"
    ]
    problems = problems_of(
        MINIMAL + "topics:\n  ingest: [t.in]\n  ingest_formats: {t.other: segment, t.in: generic}\n"
    )
    assert sorted(problems) == [
        "topics.ingest_formats.t.in: the generic format needs formats.generic to name its fields",
        "topics.ingest_formats.t.other: 't.other' is not one of topics.ingest",
    ]


def test_declaring_a_rule_set_keeps_the_built_in_pseudonymized_one() -> None:
    # docs/transforms.md: `field_rules: {strict: {}}` is safe as it is.
    config = parse_config(MINIMAL + "field_rules: {strict: {}}\n")
    assert set(config.field_rules) == {"pseudonymized", "strict"}
    assert config.field_rules["strict"] == config.field_rules["pseudonymized"]  # every default the safe one
    redefined = parse_config(MINIMAL + "field_rules: {pseudonymized: {name: pseudonymize}}\n")
    assert redefined.field_rules["pseudonymized"].name == "pseudonymize"  # a policy may still redefine it

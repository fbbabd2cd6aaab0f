"""The gateway's configuration: one strict YAML file loaded into frozen, validated objects.

Every mistake is reported at once, each with its path, e.g.
``regions.eu.countries[3]: 'XX' is not an ISO 3166-1 country``. Secrets never
live here: the file only names where keys come from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from streams.countries import COUNTRY_GROUPS, KNOWN_COUNTRIES

# The copy shipped inside the package; `config/policy.yaml` in the repository is the same file.
DEFAULT_CONFIG_NAME = "default_policy.yaml"
GLOBAL_REGION = "global"  # the name `explain` and metrics use for the global topic
REST_OF_WORLD = "*"  # a region whose countries are "every known country no other region claims"
_REGION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


class ConfigError(Exception):
    """A configuration that can't be used; `problems` lists every mistake with its path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{source}: {len(problems)} {noun}\n" + "\n".join(f"  {p}" for p in problems))


def _country_or_group(code: str) -> str:
    if code in KNOWN_COUNTRIES or code in COUNTRY_GROUPS:
        return code
    groups = ", ".join(sorted(COUNTRY_GROUPS))
    raise ValueError(f"{code!r} is not an ISO 3166-1 country (nor a country group: {groups})")


def _topic_name(name: str) -> str:
    if not _TOPIC_NAME.match(name) or name in {".", ".."}:
        raise ValueError(f"{name!r} is not a valid Kafka topic name")
    return name


CountryOrGroup = Annotated[str, AfterValidator(_country_or_group)]
TopicName = Annotated[str, AfterValidator(_topic_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class KafkaSettings(_Strict):
    bootstrap_servers: str = "127.0.0.1:19092"
    group_id: str = "residency-gateway"
    # Events consumed and handled per batch; the batch is the unit of commit.
    batch_size: int = Field(default=2000, ge=1, le=100_000)
    poll_timeout_ms: int = Field(default=100, ge=1, le=10_000)
    linger_ms: int = Field(default=5, ge=0, le=10_000)
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "lz4"
    # Anything weaker than "all" can lose acknowledged events on a leader change.
    acks: Literal["all", "1"] = "all"
    partitions: int = Field(default=3, ge=1, le=10_000)
    replication_factor: int = Field(default=1, ge=1, le=15)
    min_insync_replicas: int = Field(default=1, ge=1, le=15)


FormatName = Literal[
    "segment",
    "rudderstack",
    "snowplow",
    "snowplow_get",
    "snowplow_enriched_tsv",
    "snowplow_enriched_json",
    "ga4",
    "generic",
]
SignalName = Literal["declared", "upstream_country", "ip", "locale", "timezone"]


def _field_path(value: str | list[str | int]) -> str | list[str | int]:
    parts = value.split(".") if isinstance(value, str) else value
    if not parts or any(part == "" for part in parts):
        raise ValueError(f"{value!r} is not a field path (keys joined by '.', or a list of keys)")
    return value


# A field in an event: "context.ip", or a list of keys when a key holds dots itself.
FieldPath = Annotated[str | list[str | int], AfterValidator(_field_path)]


def _unique_signals(names: list[str]) -> list[str]:
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"each signal may appear once; repeated: {', '.join(repeated)}")
    return names


class TopicNames(_Strict):
    ingest: list[TopicName] = Field(default=["events.ingest"], min_length=1)
    # Pin a collector format per ingest topic; a topic not listed detects the format per payload.
    ingest_formats: dict[TopicName, FormatName] = {}
    global_: TopicName = Field(default="events.global", alias="global")
    quarantine: TopicName = "events.quarantine"
    dead_letter: TopicName = "events.dead-letter"


class Region(_Strict):
    countries: list[CountryOrGroup] | Literal["*"]
    topic: TopicName
    # What may leave the region on the global topic: a pseudonymized copy, or nothing.
    global_copy: Literal["pseudonymized", "none"] = "none"


class SignalFieldOverrides(_Strict):
    """Fields to read a signal from instead of the format's documented defaults; unset keeps them."""

    declared: list[FieldPath] | None = None
    upstream_country: list[FieldPath] | None = None
    ip: list[FieldPath] | None = None
    locale: list[FieldPath] | None = None
    timezone: list[FieldPath] | None = None


class GeolocationSettings(_Strict):
    # A MaxMind-format country database (GeoLite2-Country, DB-IP); None uses the bundled GeoLite2 data.
    database: str | None = None


class JurisdictionSettings(_Strict):
    # The signals to use, highest precedence first. locale and timezone are weak (a traveller's
    # phone keeps its home locale), so they are off unless listed here.
    signals: Annotated[list[SignalName], AfterValidator(_unique_signals)] = Field(
        default=["declared", "upstream_country", "ip"], min_length=1
    )
    # Two usable signals pointing at different regions: "precedence" lets the higher one decide
    # and records the other as ignored evidence; "quarantine" holds the event.
    on_conflict: Literal["precedence", "quarantine"] = "precedence"
    geolocation: GeolocationSettings = GeolocationSettings()
    fields: dict[FormatName, SignalFieldOverrides] = {}


class GenericFormatSettings(_Strict):
    """A JSON format of your own: name where its events carry each signal and personal field."""

    declared: list[FieldPath] = []
    upstream_country: list[FieldPath] = []
    ip: list[FieldPath] = []
    locale: list[FieldPath] = []
    timezone: list[FieldPath] = []
    identifiers: list[FieldPath] = []
    emails: list[FieldPath] = []


class FormatSettings(_Strict):
    generic: GenericFormatSettings | None = None


class KeySettings(_Strict):
    # Where pseudonymization keys come from; values never sit in this file.
    source: Literal["env"] = "env"
    env_prefix: str = Field(default="RESIDENCY_GATEWAY_KEY_", pattern=r"^[A-Z][A-Z0-9_]*$")


class GatewayConfig(_Strict):
    # Travels with every decision so an audit can tell which rules applied.
    policy_version: str = Field(min_length=1, max_length=64)
    kafka: KafkaSettings = KafkaSettings()
    topics: TopicNames = TopicNames()
    regions: dict[str, Region] = Field(min_length=1)
    jurisdiction: JurisdictionSettings = JurisdictionSettings()
    formats: FormatSettings = FormatSettings()
    keys: KeySettings = KeySettings()

    def exporting_regions(self) -> list[str]:
        return [name for name, region in self.regions.items() if region.global_copy != "none"]

    def country_regions(self) -> dict[str, str]:
        """Map every known country to its region; countries no region claims are absent."""
        claimed: dict[str, str] = {}
        rest_of_world: str | None = None
        for name, region in self.regions.items():
            if isinstance(region.countries, str):  # REST_OF_WORLD
                rest_of_world = name
                continue
            for code in _expand(region.countries):
                claimed[code] = name
        if rest_of_world is not None:
            for code in KNOWN_COUNTRIES - claimed.keys():
                claimed[code] = rest_of_world
        return claimed

    def all_topics(self) -> list[str]:
        named = self.topics
        regional = [region.topic for region in self.regions.values()]
        return [*named.ingest, named.global_, named.quarantine, named.dead_letter, *regional]


def _expand(codes: list[str]) -> list[str]:
    expanded: list[str] = []
    for code in codes:
        expanded.extend(sorted(COUNTRY_GROUPS.get(code, {code})))
    return expanded


def load_config(path: str | Path | None = None) -> GatewayConfig:
    """Load and validate a config file; None means the default policy shipped with the package."""
    if path is None:
        text = resources.files("streams").joinpath(DEFAULT_CONFIG_NAME).read_text()
        return parse_config(text, source="default policy")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"can't read the file: {exc.strerror}"]) from None
    return parse_config(text, source=str(path))


def parse_config(text: str, source: str = "<config>") -> GatewayConfig:
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(source, [_describe_yaml_error(exc)]) from None
    if not isinstance(document, Mapping):
        raise ConfigError(source, ["the file must hold a mapping of settings"])
    try:
        config = GatewayConfig.model_validate(document)
    except ValidationError as exc:
        raise ConfigError(source, _describe_all(exc.errors())) from None
    problems = _cross_checks(config)
    if problems:
        raise ConfigError(source, problems)
    return config


def _cross_checks(config: GatewayConfig) -> list[str]:
    """Rules that span fields, which per-field validation can't see."""
    problems: list[str] = []
    owner: dict[str, str] = {}
    rest_of_world: list[str] = []
    for name, region in config.regions.items():
        if not _REGION_NAME.match(name) or name == GLOBAL_REGION:
            problems.append(
                f"regions.{name}: region names are lowercase identifiers and "
                f"{GLOBAL_REGION!r} is reserved for the global topic"
            )
        if region.countries == REST_OF_WORLD:
            rest_of_world.append(name)
            continue
        for index, code in enumerate(region.countries):
            for country in sorted(COUNTRY_GROUPS.get(code, {code})):
                if country in owner and owner[country] != name:
                    problems.append(
                        f"regions.{name}.countries[{index}]: {country!r} already belongs "
                        f"to region {owner[country]!r}"
                    )
                owner[country] = name
    if len(rest_of_world) > 1:
        problems.append(
            f"regions: only one region may claim the rest of the world ('*'), "
            f"found {', '.join(rest_of_world)}"
        )
    seen: dict[str, str] = {}
    named = [(f"topics.ingest[{i}]", t) for i, t in enumerate(config.topics.ingest)]
    named += [
        ("topics.global", config.topics.global_),
        ("topics.quarantine", config.topics.quarantine),
        ("topics.dead_letter", config.topics.dead_letter),
    ]
    named += [(f"regions.{name}.topic", r.topic) for name, r in config.regions.items()]
    for path, topic in named:
        if topic in seen:
            problems.append(f"{path}: topic {topic!r} is already used by {seen[topic]}")
        seen.setdefault(topic, path)
    for topic, format_name in config.topics.ingest_formats.items():
        if topic not in config.topics.ingest:
            problems.append(f"topics.ingest_formats.{topic}: {topic!r} is not one of topics.ingest")
        if format_name == "generic" and config.formats.generic is None:
            problems.append(
                f"topics.ingest_formats.{topic}: the generic format needs formats.generic to name its fields"
            )
    if "generic" in config.jurisdiction.fields:
        problems.append("jurisdiction.fields.generic: name the generic format's fields under formats.generic")
    if config.kafka.min_insync_replicas > config.kafka.replication_factor:
        problems.append(
            f"kafka.min_insync_replicas: {config.kafka.min_insync_replicas} is more than "
            f"kafka.replication_factor ({config.kafka.replication_factor}); no write could succeed"
        )
    return problems


_COUNTRY_LIST_BRANCH = "list[function-after[_country_or_group(), str]]"
_REST_OF_WORLD_BRANCH = "literal['*']"


def _describe_all(errors: list[Any]) -> list[str]:
    """One line per mistake, folding the two branches of `countries` (a list, or '*')."""
    described: list[str] = []
    for error in errors:
        loc = error["loc"]
        if _REST_OF_WORLD_BRANCH in loc:
            continue  # the list branch's error says more, or the type error below does
        if loc and loc[-1] == _COUNTRY_LIST_BRANCH and error["type"] == "list_type":
            path = _path(loc[:-1])
            described.append(f"{path}: must be a list of countries or '*' (got {error['input']!r})")
            continue
        described.append(_describe(error))
    return described


def _path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == _COUNTRY_LIST_BRANCH:
            continue  # pydantic's name for a union branch is noise to a reader
        else:
            path += f".{part}" if path else str(part)
    return path


def _describe(error: Any) -> str:
    path = _path(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        message = "unknown key"
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "value_error":
        message = str(error["ctx"]["error"])
    else:
        message = f"{error['msg']} (got {error['input']!r})"
    return f"{path or '<top level>'}: {message}"


def _describe_yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
    problem = getattr(exc, "problem", None) or str(exc)
    return f"<yaml> {where}: {problem}"


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that rejects duplicate keys, which plain YAML silently lets win last."""


def _construct_unique_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)
        if key in mapping:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_unique_mapping,
)

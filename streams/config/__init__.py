"""The gateway's configuration: one strict YAML file loaded into frozen, validated objects.

Every mistake is reported at once, each with its path, e.g.
``regions.eu.countries[3]: 'XX' is not an ISO 3166-1 country``. Secrets never
live here: the file only names where keys come from.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

import orjson
import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from streams.config.countries import COUNTRY_GROUPS, KNOWN_COUNTRIES

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


def _country(code: str) -> str:
    if code not in KNOWN_COUNTRIES:
        raise ValueError(f"{code!r} is not an ISO 3166-1 country")
    return code


CountryOrGroup = Annotated[str, AfterValidator(_country_or_group)]
Country = Annotated[str, AfterValidator(_country)]
TopicName = Annotated[str, AfterValidator(_topic_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# An environment variable's name: credentials are read from the environment, never from this file.
EnvName = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")]


class KafkaSecurity(_Strict):
    """How the gateway's own Kafka clients authenticate; the secrets come from the environment."""

    # PLAINTEXT: no authentication (a local broker). SASL_PLAINTEXT / SASL_SSL: a SASL login.
    protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    # The gateway's login (run), and the admin's login (topics apply: creates topics and ACLs).
    username_env: EnvName = "RESIDENCY_GATEWAY_KAFKA_USERNAME"
    password_env: EnvName = "RESIDENCY_GATEWAY_KAFKA_PASSWORD"  # noqa: S105 - a variable name
    admin_username_env: EnvName = "RESIDENCY_GATEWAY_KAFKA_ADMIN_USERNAME"
    admin_password_env: EnvName = "RESIDENCY_GATEWAY_KAFKA_ADMIN_PASSWORD"  # noqa: S105
    # SASL_SSL: a CA bundle to verify the brokers with; None uses the system's.
    ssl_ca_location: str | None = None


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
    # exactly_once: each batch's outputs and input offsets commit in one Kafka transaction.
    # at_least_once: flush, then commit offsets; a crash in between writes a batch twice.
    delivery: Literal["exactly_once", "at_least_once"] = "exactly_once"
    # How long the broker keeps a dead worker's open transaction before aborting it (and holding
    # read_committed readers of those partitions back meanwhile); a restarted worker aborts it at once.
    transaction_timeout_ms: int = Field(default=60_000, ge=1_000, le=900_000)
    # How long one batch's flush and commit may take before the batch is retried or the engine
    # stops; a worker stuck three times this long in a commit exits for its supervisor to restart.
    commit_timeout_ms: int = Field(default=30_000, ge=1_000, le=600_000)
    # How soon the group gives a dead worker's partitions to the others (Kafka's default is 45 s).
    session_timeout_ms: int = Field(default=10_000, ge=3_000, le=300_000)
    partitions: int = Field(default=3, ge=1, le=10_000)
    replication_factor: int = Field(default=1, ge=1, le=15)
    min_insync_replicas: int = Field(default=1, ge=1, le=15)
    # retention.ms of every topic `topics apply` manages but the compacted subject-key topics;
    # None leaves each topic at the broker's default (or at what it was set to by hand); -1: forever.
    retention_ms: int | None = Field(default=None, ge=-1)
    security: KafkaSecurity = KafkaSecurity()

    @property
    def worker_app_id(self) -> str:
        """The faust worker's app id: its consumer group, and the prefix of the topics faust makes."""
        return f"{self.group_id}-worker"


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
    quarantine: TopicName = "events.quarantine"
    dead_letter: TopicName = "events.dead-letter"
    # One record per event, with no personal data: what happened to it and why.
    audit: TopicName = "events.audit"
    # Data-subject erasure requests.
    erasure: TopicName = "events.erasure"
    # Each region's per-subject keys and erasure state live in a compacted topic named
    # <region topic><subject_keys_suffix>, in the region.
    subject_keys_suffix: str = Field(default=".subject-keys", pattern=r"^[A-Za-z0-9._-]{1,64}$")


def _keep_path(value: str | list[str | int]) -> str | list[str | int]:
    from streams.transform.allowlist import (
        parse_keep_path,  # pure; imported here only to keep config's imports few
    )

    parse_keep_path(value)  # raises ValueError with the reason
    return value


# A field a destination's copies keep beyond the format's allowlist: properties.plan,
# "properties.products[*].sku", co.data[com.acme/product].data.sku, or a list of keys.
KeepPath = Annotated[str | list[str | int], AfterValidator(_keep_path)]


class Destination(_Strict):
    """A topic that may receive copies of events from regions whose `transfers` name it."""

    topic: TopicName
    # A consent purpose (see `consent.purposes`): an event whose consent doesn't grant it isn't sent.
    purpose: str | None = None
    # Copies keep only what each format's allowlist names (docs/transforms.md) and these paths:
    # a list for every format, or per format ({segment: [...], ga4: [...]}). Kept strings still
    # pass the value scan; a kept id is still pseudonymized; a kept key named like a person's
    # details (firstName, email) is still that kind.
    keep: list[KeepPath] | dict[FormatName, list[KeepPath]] = []
    # What a copy does with fields neither the allowlist nor `keep` names:
    #   drop  left out, and named in the copy's audit record (default-deny)
    #   scan  kept after the value scan; personal-named keys are still transformed. It can leak
    #         what no pattern recognizes (a name in a custom field): check-config warns.
    unknown_fields: Literal["drop", "scan"] = "drop"

    def keep_paths(self) -> dict[str, list[tuple[str, Any]]]:
        """Keep paths by format name ("*": every format), each with its text, parsed."""
        from streams.transform.allowlist import keep_path_text, parse_keep_path

        by_format = {"*": self.keep} if isinstance(self.keep, list) else dict(self.keep)
        parsed: dict[str, list[tuple[str, Any]]] = {}
        for name, paths in by_format.items():
            parsed[name] = []
            for path in paths:
                steps = parse_keep_path(path)
                parsed[name].append((keep_path_text(steps), steps))
        return parsed


# The field rules a region keeps in its home topic unless it names others: the event as it came.
FULL = "full"
Transform = Literal["keep", "drop", "pseudonymize", "tokenize", "generalize"]
# The transforms each kind of personal field can take; generalize means: IP to /24 or /48,
# timestamp to the hour, geo to the country, user agent to browser family and OS.
TRANSFORMS_BY_KIND: dict[str, frozenset[str]] = {
    "user_id": frozenset({"keep", "drop", "pseudonymize", "tokenize"}),
    "anonymous_id": frozenset({"keep", "drop", "pseudonymize", "tokenize"}),
    "email": frozenset({"keep", "drop", "pseudonymize", "tokenize"}),
    "phone": frozenset({"keep", "drop", "pseudonymize", "tokenize"}),
    "name": frozenset({"keep", "drop", "pseudonymize", "tokenize"}),
    "ip": frozenset({"keep", "drop", "pseudonymize", "generalize"}),
    "geo": frozenset({"keep", "drop", "generalize"}),
    "user_agent": frozenset({"keep", "drop", "generalize"}),
    "timestamp": frozenset({"keep", "drop", "generalize"}),
    "found_in_text": frozenset({"keep", "drop", "pseudonymize"}),
    "path": frozenset({"keep", "drop", "pseudonymize", "tokenize"}),
}
# Kinds that identify a person directly, or nearly: never kept in a copy that leaves a region.
NEVER_KEPT_ACROSS_BORDERS = ("user_id", "anonymous_id", "email", "phone", "name", "ip", "found_in_text")


class FieldRules(_Strict):
    """A transform per kind of personal field. Unnamed kinds take the safe default shown."""

    user_id: Transform = "pseudonymize"
    anonymous_id: Transform = "pseudonymize"
    email: Transform = "pseudonymize"
    phone: Transform = "pseudonymize"
    name: Transform = "drop"
    ip: Transform = "generalize"
    geo: Transform = "generalize"
    user_agent: Transform = "generalize"
    timestamp: Transform = "generalize"
    # Emails, phone numbers and IP addresses found by value in any other string (free text,
    # URLs). pseudonymize replaces emails and phones with their pseudonyms and generalizes IPs.
    found_in_text: Literal["keep", "drop", "pseudonymize"] = "pseudonymize"
    # More fields, per format: {segment: {properties.order_note: drop}}; these win over kinds.
    paths: dict[FormatName, dict[str, Transform]] = {}


class Region(_Strict):
    countries: list[CountryOrGroup] | Literal["*"]
    topic: TopicName
    # The field rules for the home topic; "full" keeps the event exactly as it came.
    home: str = FULL
    # Destination name → the field rules of the copy it receives. A destination not listed
    # receives nothing from this region.
    transfers: dict[str, str] = {}
    # The country whose national format a phone number without a country code is read in, when
    # the event's own country isn't known (a declared region); None: the region's only country, if
    # it has one. One normalization, so one number gets one pseudonym (docs/transforms.md).
    phone_country: Country | None = None
    # The Kafka cluster that holds this region's topic, when it isn't kafka.bootstrap_servers:
    # the full events are then written only there (docs/operations.md, "Many clusters").
    bootstrap_servers: str | None = Field(default=None, min_length=1)


# What a gateway policy uses when its `consent.purposes` is null. Each list names alternatives:
# one of them granted (and none denied) grants the purpose. A format a purpose leaves out can't
# express it (GA4's Measurement Protocol has no analytics consent), so it is ungated there.
_SNOWPLOW_FORMATS = ("snowplow", "snowplow_get", "snowplow_enriched_tsv", "snowplow_enriched_json")
DEFAULT_PURPOSES: Mapping[str, Mapping[str, Sequence[str]]] = MappingProxyType(
    {
        "analytics": MappingProxyType(
            {
                "segment": ("Analytics",),
                "rudderstack": ("analytics",),
                "ga4": (),
                **dict.fromkeys(_SNOWPLOW_FORMATS, ("analytics",)),
            }
        ),
        "advertising": MappingProxyType(
            {
                "segment": ("Advertising",),
                "rudderstack": ("advertising", "marketing"),
                "ga4": ("ad_user_data", "ad_personalization"),
                **dict.fromkeys(_SNOWPLOW_FORMATS, ("marketing", "advertisement")),
            }
        ),
    }
)


class ConsentSettings(_Strict):
    # An event that carries no consent information: "allow" sends it to every destination its
    # region transfers to; "deny" sends it to no destination that names a purpose.
    when_absent: Literal["allow", "deny"] = "allow"
    # Purpose → collector format → the collector's category names that grant it; None uses the
    # gateway's defaults (docs/consent.md).
    purposes: dict[str, dict[FormatName, list[str]]] | None = None


class ErasureSettings(_Strict):
    # Events of an erased subject that arrive later:
    #   suppress      written nowhere (the audit topic still records that they came)
    #   pseudonymize  every output, the home topic's too, takes the `rules` field rules
    after: Literal["suppress", "pseudonymize"] = "suppress"
    rules: str = "pseudonymized"


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
    # Usable findings pointing at different regions (docs/jurisdiction.md says when to choose which):
    # "precedence" lets the highest signal decide (unless two findings of that one signal
    # disagree); "quarantine" holds the event; "strictest" routes it to the region with the
    # narrowest transfers, or holds it when none is narrowest. Quarantine by default: fail closed,
    # no event whose signals disagree is ever exported unless the policy says so.
    on_conflict: Literal["precedence", "quarantine", "strictest"] = "quarantine"
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
    phones: list[FieldPath] = []
    names: list[FieldPath] = []
    geo: list[FieldPath] = []
    user_agents: list[FieldPath] = []
    timestamps: list[FieldPath] = []


class FormatSettings(_Strict):
    generic: GenericFormatSettings | None = None
    # The most events one payload may hold (a Segment or Snowplow batch, a GA4 body holds 25 at
    # most); a payload with more is dead-lettered whole, with the reason, rather than stall its
    # partition for seconds.
    max_events_per_payload: int = Field(default=500, ge=1, le=100_000)


class KmsSettings(_Strict):
    # The AWS region of the KMS keys; None takes it from the usual AWS environment.
    region_name: str | None = None
    # Another KMS endpoint (a VPC endpoint, or a local emulator in tests); None is AWS's own.
    endpoint_url: str | None = None


class KeySettings(_Strict):
    # Where pseudonymization keys come from; values never sit in this file.
    #   env      environment variables <env_prefix><REGION>
    #   file     one file per region, <directory>/<region>.key (a mounted secret)
    #   aws_kms  the env variables (or files, when directory is set) hold KMS-encrypted keys,
    #            decrypted once by AWS KMS at start and on every refresh
    source: Literal["env", "file", "aws_kms"] = "env"
    env_prefix: str = Field(default="RESIDENCY_GATEWAY_KEY_", pattern=r"^[A-Z][A-Z0-9_]*$")
    directory: str | None = None
    kms: KmsSettings = KmsSettings()
    # How often `run` reloads keys (picking up a rotation), and how long it may keep using
    # keys it could not reload before it holds events instead (fail closed).
    refresh_seconds: int = Field(default=300, ge=1, le=86_400)
    max_age_seconds: int = Field(default=3600, ge=1, le=7 * 86_400)


def _principal(name: str) -> str:
    if not _PRINCIPAL.match(name) or "*" in name:
        raise ValueError(f"{name!r} is not a Kafka principal: User:<name>, e.g. User:eu-tools (no wildcards)")
    return name


_PRINCIPAL = re.compile(r"^User:\S(.*\S)?$")
Principal = Annotated[str, AfterValidator(_principal)]


class RegionAccess(_Strict):
    # The tools that read this region's topic (a Kafka consumer, a Connect sink, a loader):
    # each may read this region's topic and nothing else.
    consumer_principals: list[Principal] = []
    # Their consumer groups start with this; None means "<region>-", e.g. eu-warehouse.
    group_prefix: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,200}$")


class AccessSettings(_Strict):
    """Who may do what on the gateway's topics: the ACLs `topics apply` grants (docs/access.md)."""

    # false: topics apply leaves ACLs alone (a broker without an authorizer, or ACLs kept elsewhere).
    acls: bool = False
    # The principal the gateway runs as: User:<the username in kafka.security.username_env>.
    gateway_principal: Principal = "User:residency-gateway"
    # Collectors and bridges that write the ingest topics.
    collector_principals: list[Principal] = []
    # Region name → who reads that region's topic.
    regions: dict[str, RegionAccess] = {}

    def group_prefix(self, region: str) -> str:
        """The consumer-group prefix of a region's readers."""
        configured = self.regions[region].group_prefix if region in self.regions else None
        return configured or f"{region}-"


class GatewayConfig(_Strict):
    # Travels with every decision so an audit can tell which rules applied.
    policy_version: str = Field(min_length=1, max_length=64)
    kafka: KafkaSettings = KafkaSettings()
    topics: TopicNames = TopicNames()
    regions: dict[str, Region] = Field(min_length=1)
    jurisdiction: JurisdictionSettings = JurisdictionSettings()
    formats: FormatSettings = FormatSettings()
    keys: KeySettings = KeySettings()
    destinations: dict[str, Destination] = {"global": Destination(topic="events.global", purpose="analytics")}
    field_rules: dict[str, FieldRules] = {"pseudonymized": FieldRules()}
    consent: ConsentSettings = ConsentSettings()
    erasure: ErasureSettings = ErasureSettings()
    access: AccessSettings = AccessSettings()

    def exporting_regions(self) -> list[str]:
        """Regions that send copies anywhere beyond their home topic."""
        return [name for name, region in self.regions.items() if region.transfers]

    def key_regions(self) -> list[str]:
        """Regions that need a key: every one, since erasure keys subjects per jurisdiction."""
        return list(self.regions)

    def subject_keys_topic(self, region: str) -> str:
        return self.regions[region].topic + self.topics.subject_keys_suffix

    def phone_country(self, region: str) -> str | None:
        """The country a region's national phone numbers are read in, when the event names none."""
        settings = self.regions[region]
        if settings.phone_country is not None:
            return settings.phone_country
        if isinstance(settings.countries, list):
            countries = _expand(settings.countries)
            if len(countries) == 1:
                return countries[0]
        return None

    def warnings(self) -> list[str]:
        """Settings that are valid but can let personal data out; check-config and run print them."""
        found = []
        for name, destination in self.destinations.items():
            if destination.unknown_fields == "scan":
                found.append(
                    f"destinations.{name}.unknown_fields: scan keeps every field no allowlist names, after "
                    "the value scan; a name or an id in a custom field that no pattern recognizes can "
                    "leave its region. Prefer drop, and keep what the destination needs by path."
                )
        return found

    def policy_hash(self) -> str:
        """A digest of the rules in force, for the audit trail: same rules, same hash."""
        canonical = orjson.dumps(self.model_dump(mode="json", by_alias=True), option=orjson.OPT_SORT_KEYS)
        return "sha256:" + hashlib.sha256(canonical).hexdigest()[:32]

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

    def remote_region_topics(self, main_bootstrap: str | None = None) -> dict[str, str]:
        """Region topic → bootstrap, for the regions whose topic lives on a cluster of its own."""
        main = main_bootstrap or self.kafka.bootstrap_servers
        return {
            region.topic: region.bootstrap_servers
            for region in self.regions.values()
            if region.bootstrap_servers is not None and region.bootstrap_servers != main
        }

    def topics_by_cluster(self, main_bootstrap: str | None = None) -> dict[str, list[str]]:
        """Bootstrap → the topics that live there; the main cluster holds every other topic."""
        main = main_bootstrap or self.kafka.bootstrap_servers
        remote = self.remote_region_topics(main)
        clusters: dict[str, list[str]] = {
            main: [t for t in dict.fromkeys(self.all_topics()) if t not in remote]
        }
        for topic, bootstrap in remote.items():
            clusters.setdefault(bootstrap, []).append(topic)
        return clusters

    def all_topics(self) -> list[str]:
        named = self.topics
        regional = [region.topic for region in self.regions.values()]
        destinations = [destination.topic for destination in self.destinations.values()]
        subject_keys = [self.subject_keys_topic(name) for name in self.regions]
        return [
            *named.ingest,
            *destinations,
            named.quarantine,
            named.dead_letter,
            named.audit,
            named.erasure,
            *regional,
            *subject_keys,
        ]


def _expand(codes: list[str]) -> list[str]:
    expanded: list[str] = []
    for code in codes:
        expanded.extend(sorted(COUNTRY_GROUPS.get(code, {code})))
    return expanded


def load_config(path: str | Path | None = None) -> GatewayConfig:
    """Load and validate a config file; None means the default policy shipped with the package."""
    if path is None:
        text = resources.files("streams.config").joinpath(DEFAULT_CONFIG_NAME).read_text()
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
        if not _REGION_NAME.match(name) or name in config.destinations:
            problems.append(
                f"regions.{name}: region names are lowercase identifiers, and destination names "
                f"({', '.join(config.destinations)}) are taken"
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
    for name, region in config.regions.items():
        remote = region.bootstrap_servers not in (None, config.kafka.bootstrap_servers)
        if remote and config.kafka.delivery == "exactly_once":
            problems.append(
                f"regions.{name}.bootstrap_servers: a region on a cluster of its own needs "
                "kafka.delivery: at_least_once (a Kafka transaction can't span clusters)"
            )
    if config.kafka.delivery == "exactly_once" and config.kafka.acks != "all":
        problems.append("kafka.acks: exactly_once delivery needs acks: all (Kafka transactions require it)")
    seen: dict[str, str] = {}
    for path, topic in _topic_paths(config):
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
    problems += _transfer_checks(config)
    problems += _access_checks(config)
    if config.kafka.min_insync_replicas > config.kafka.replication_factor:
        problems.append(
            f"kafka.min_insync_replicas: {config.kafka.min_insync_replicas} is more than "
            f"kafka.replication_factor ({config.kafka.replication_factor}); no write could succeed"
        )
    return problems


def _transfer_checks(config: GatewayConfig) -> list[str]:
    """Field rules exist, fit their kinds, and nothing personal leaves a region in the clear."""
    problems: list[str] = []
    rules = config.field_rules
    known_rules = ", ".join([FULL, *rules])
    if FULL in rules:
        problems.append(
            f"field_rules.{FULL}: {FULL!r} is built in (the event as it came) and can't be redefined"
        )
    for name, rule_set in rules.items():
        for kind, allowed in TRANSFORMS_BY_KIND.items():
            if kind == "path":
                continue
            transform = getattr(rule_set, kind)
            if transform not in allowed:
                problems.append(
                    f"field_rules.{name}.{kind}: {transform!r} does not apply to {kind.replace('_', ' ')} "
                    f"(choose from {', '.join(sorted(allowed))})"
                )
        for format_name, paths in rule_set.paths.items():
            for path, transform in paths.items():
                where = f"field_rules.{name}.paths.{format_name}.{path}"
                if transform not in TRANSFORMS_BY_KIND["path"]:
                    problems.append(
                        f"{where}: {transform!r} needs a kind of field; choose keep, drop, "
                        "pseudonymize or tokenize"
                    )
                try:
                    _field_path(path)
                except ValueError as error:
                    problems.append(f"{where}: {error}")
    for region_name, region in config.regions.items():
        if region.home != FULL and region.home not in rules:
            problems.append(
                f"regions.{region_name}.home: no field rules named {region.home!r} ({known_rules})"
            )
        for destination, rule_name in region.transfers.items():
            where = f"regions.{region_name}.transfers.{destination}"
            if destination not in config.destinations:
                problems.append(
                    f"{where}: no destination named {destination!r} "
                    f"(destinations: {', '.join(config.destinations)})"
                )
            if rule_name == FULL:
                problems.append(
                    f"{where}: the full event never leaves its home topic; name field rules "
                    "that pseudonymize it"
                )
                continue
            copy_rules = rules.get(rule_name)
            if copy_rules is None:
                problems.append(f"{where}: no field rules named {rule_name!r} ({known_rules})")
                continue
            kept = [kind for kind in NEVER_KEPT_ACROSS_BORDERS if getattr(copy_rules, kind) == "keep"]
            kept += [
                f"{f}.{path}"
                for f, paths in copy_rules.paths.items()
                for path, t in paths.items()
                if t == "keep"
            ]
            if kept:
                problems.append(
                    f"{where}: field rules {rule_name!r} keep {', '.join(kept)} in the clear; only "
                    "pseudonymized, tokenized, generalized or dropped personal data may leave a region"
                )
    erasure_rules = config.erasure.rules
    if erasure_rules not in rules:
        problems.append(f"erasure.rules: no field rules named {erasure_rules!r} ({known_rules})")
    elif config.erasure.after == "pseudonymize":
        rule_set = rules[erasure_rules]
        unsafe = [
            kind for kind in NEVER_KEPT_ACROSS_BORDERS if getattr(rule_set, kind) in {"keep", "tokenize"}
        ]
        if unsafe:
            problems.append(
                f"erasure.rules: field rules {erasure_rules!r} keep or tokenize {', '.join(unsafe)}; "
                "an erased subject's later events must be fully pseudonymized"
            )
    purposes = config.consent.purposes if config.consent.purposes is not None else DEFAULT_PURPOSES
    for name, target in config.destinations.items():
        if not _REGION_NAME.match(name):
            problems.append(f"destinations.{name}: destination names are lowercase identifiers")
        if target.purpose is not None and target.purpose not in purposes:
            problems.append(
                f"destinations.{name}.purpose: {target.purpose!r} is not one of the consent purposes "
                f"({', '.join(purposes)})"
            )
    return problems


def _topic_paths(config: GatewayConfig) -> list[tuple[str, str]]:
    """Every topic the config uses, with the path that names it."""
    named = [(f"topics.ingest[{i}]", t) for i, t in enumerate(config.topics.ingest)]
    named += [(f"destinations.{name}.topic", d.topic) for name, d in config.destinations.items()]
    named += [
        ("topics.quarantine", config.topics.quarantine),
        ("topics.dead_letter", config.topics.dead_letter),
        ("topics.audit", config.topics.audit),
        ("topics.erasure", config.topics.erasure),
    ]
    named += [(f"regions.{name}.topic", r.topic) for name, r in config.regions.items()]
    named += [
        (f"regions.{name}.topic (subject keys)", config.subject_keys_topic(name)) for name in config.regions
    ]
    return named


def _access_checks(config: GatewayConfig) -> list[str]:
    """Principals name existing regions, each has one role, and no one's groups overlap another's."""
    access = config.access
    problems: list[str] = []
    security = config.kafka.security
    if security.protocol == "SASL_PLAINTEXT" and security.sasl_mechanism == "PLAIN":
        problems.append(
            "kafka.security.sasl_mechanism: PLAIN over SASL_PLAINTEXT sends the password in the clear; "
            "use SCRAM-SHA-512, or SASL_SSL"
        )
    if access.acls and security.protocol == "PLAINTEXT":
        problems.append(
            "access.acls: ACLs need authenticated clients; on PLAINTEXT every client is User:ANONYMOUS "
            "(set kafka.security.protocol to SASL_PLAINTEXT or SASL_SSL)"
        )
    roles: dict[str, str] = {access.gateway_principal: "access.gateway_principal"}
    named = [(f"access.collector_principals[{i}]", p) for i, p in enumerate(access.collector_principals)]
    for region, readers in access.regions.items():
        if region not in config.regions:
            problems.append(
                f"access.regions.{region}: no region named {region!r} ({', '.join(config.regions)})"
            )
        named += [
            (f"access.regions.{region}.consumer_principals[{i}]", p)
            for i, p in enumerate(readers.consumer_principals)
        ]
    for path, principal in named:
        if principal in roles:
            problems.append(
                f"{path}: {principal} already has a role ({roles[principal]}); one principal, one role, "
                "so that nobody reads a region through another grant"
            )
        roles.setdefault(principal, path)
    # The gateway may create and read faust's topics (<app id>-*): none of the config's may be among them.
    faust_topics = f"{config.kafka.worker_app_id}-"
    if access.acls:
        problems += [
            f"{path}: {topic!r} is under {faust_topics}*, the prefix of the faust worker's own topics, "
            "which the gateway may create and read"
            for path, topic in _topic_paths(config)
            if topic.startswith(faust_topics)
        ]
    prefixes = {name: access.group_prefix(name) for name in access.regions if name in config.regions}
    group = config.kafka.group_id
    for region, prefix in prefixes.items():
        where = f"access.regions.{region}.group_prefix"
        if group.startswith(prefix) or prefix.startswith(group):
            problems.append(
                f"{where}: {prefix!r} overlaps the gateway's consumer groups ({group}, {group}-*)"
            )
        for other, other_prefix in prefixes.items():
            if other < region and (prefix.startswith(other_prefix) or other_prefix.startswith(prefix)):
                problems.append(
                    f"{where}: {prefix!r} overlaps region {other}'s {other_prefix!r}; "
                    "its readers could join the other region's groups"
                )
    return problems


_COUNTRY_LIST_BRANCH = "list[function-after[_country_or_group(), str]]"
_REST_OF_WORLD_BRANCH = "literal['*']"


def _describe_all(errors: list[Any]) -> list[str]:
    """One line per mistake, folding the two branches of `countries` (a list, or '*') and of `keep`."""
    described: list[str] = []
    for error in errors:
        loc = error["loc"]
        if _REST_OF_WORLD_BRANCH in loc:
            continue  # the list branch's error says more, or the type error below does
        if loc and loc[-1] == _COUNTRY_LIST_BRANCH and error["type"] == "list_type":
            path = _path(loc[:-1])
            described.append(f"{path}: must be a list of countries or '*' (got {error['input']!r})")
            continue
        if loc and _is_branch(loc[-1]) and error["type"] in {"list_type", "dict_type"}:
            # One branch of a union that the value isn't shaped for: the other branch speaks.
            if any(_is_branch(part) for part in loc[:-1]):
                continue
            others = [e for e in errors if e is not error and e["loc"][: len(loc) - 1] == loc[:-1]]
            if all(e["type"] in {"list_type", "dict_type"} for e in others):
                described.append(f"{_path(loc[:-1])}: {_BRANCH_SHAPES.get(loc[-2], 'has the wrong shape')}")
            continue
        described.append(_describe(error))
    return list(dict.fromkeys(described))


_BRANCH_SHAPES = {"keep": "must be a list of paths, or a mapping of format name to a list of paths"}


def _is_branch(part: Any) -> bool:
    """pydantic's name for a union branch (`list[...]`, `dict[...]`): noise to a reader."""
    return isinstance(part, str) and part.endswith("]") and part.startswith(("list[", "dict[", "literal["))


def _path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == _COUNTRY_LIST_BRANCH or _is_branch(part) or part == "[key]":
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

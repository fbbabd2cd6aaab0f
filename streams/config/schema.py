"""The configuration's schema: every setting, its type and its per-field checks, as frozen pydantic models."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from streams.config.countries import COUNTRY_GROUPS, KNOWN_COUNTRIES
from streams.formats.registry import FORMAT_NAMES, default_purposes

REST_OF_WORLD = "*"  # a region whose countries are "every known country no other region claims"
REGION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


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


def _with_built_in_rules(declared: dict[str, FieldRules]) -> dict[str, FieldRules]:
    """Declaring a rule set of one's own doesn't take the safe default away (docs/transforms.md)."""
    return declared if "pseudonymized" in declared else {"pseudonymized": FieldRules(), **declared}


CountryOrGroup = Annotated[str, AfterValidator(_country_or_group)]
Country = Annotated[str, AfterValidator(_country)]
TopicName = Annotated[str, AfterValidator(_topic_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# An environment variable's name: credentials are read from the environment, never from this file.
EnvName = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")]


# RFC 7628 extension keys are letters; a value can't hold librdkafka's separators (',' and '=').
ExtensionName = Annotated[str, Field(pattern=r"^[A-Za-z]+$")]
ExtensionValue = Annotated[str, Field(pattern=r"^[^,=\s]+$")]


class OAuthBearer(_Strict):
    """OAUTHBEARER with OIDC client credentials (RFC 6749 4.4): the clients fetch a token from the
    identity provider's token endpoint and fetch a new one before it expires. The client id and
    secret come from the environment; the admin (topics apply) has its own."""

    token_endpoint_url: Annotated[str, Field(pattern=r"^https?://[^\s]+$")]
    scope: str | None = None
    # SASL extensions some clusters require (Confluent Cloud: logicalCluster and identityPoolId).
    extensions: dict[ExtensionName, ExtensionValue] = {}
    client_id_env: EnvName = "RESIDENCY_GATEWAY_KAFKA_OAUTH_CLIENT_ID"
    client_secret_env: EnvName = "RESIDENCY_GATEWAY_KAFKA_OAUTH_CLIENT_SECRET"  # noqa: S105 - a variable name
    admin_client_id_env: EnvName = "RESIDENCY_GATEWAY_KAFKA_ADMIN_OAUTH_CLIENT_ID"
    admin_client_secret_env: EnvName = "RESIDENCY_GATEWAY_KAFKA_ADMIN_OAUTH_CLIENT_SECRET"  # noqa: S105


class KafkaSecurity(_Strict):
    """How the gateway's own Kafka clients authenticate; the secrets come from the environment."""

    # PLAINTEXT: no authentication (a local broker). SSL: mutual TLS, the client certificate is the
    # identity. SASL_PLAINTEXT / SASL_SSL: a SASL login (SCRAM, PLAIN or an OAuth token), SASL_SSL over TLS.
    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN", "OAUTHBEARER"] = "SCRAM-SHA-512"
    # SCRAM / PLAIN: the gateway's login (run), and the admin's login (topics apply: creates topics and ACLs).
    username_env: EnvName = "RESIDENCY_GATEWAY_KAFKA_USERNAME"
    password_env: EnvName = "RESIDENCY_GATEWAY_KAFKA_PASSWORD"  # noqa: S105 - a variable name
    admin_username_env: EnvName = "RESIDENCY_GATEWAY_KAFKA_ADMIN_USERNAME"
    admin_password_env: EnvName = "RESIDENCY_GATEWAY_KAFKA_ADMIN_PASSWORD"  # noqa: S105
    # SSL / SASL_SSL: a CA bundle to verify the brokers with; None uses the system's.
    ssl_ca_location: str | None = None
    # SSL: variables holding the paths of the PEM client certificate and key, and the key's password
    # (unset: the key is not encrypted); the admin's are separate.
    ssl_certificate_env: EnvName = "RESIDENCY_GATEWAY_KAFKA_SSL_CERTIFICATE"
    ssl_key_env: EnvName = "RESIDENCY_GATEWAY_KAFKA_SSL_KEY"
    ssl_key_password_env: EnvName = "RESIDENCY_GATEWAY_KAFKA_SSL_KEY_PASSWORD"  # noqa: S105
    admin_ssl_certificate_env: EnvName = "RESIDENCY_GATEWAY_KAFKA_ADMIN_SSL_CERTIFICATE"
    admin_ssl_key_env: EnvName = "RESIDENCY_GATEWAY_KAFKA_ADMIN_SSL_KEY"
    admin_ssl_key_password_env: EnvName = "RESIDENCY_GATEWAY_KAFKA_ADMIN_SSL_KEY_PASSWORD"  # noqa: S105
    # OAUTHBEARER: the identity provider's token endpoint and the clients' credentials.
    oauthbearer: OAuthBearer | None = None

    @model_validator(mode="after")
    def _oauthbearer_goes_with_its_mechanism(self) -> KafkaSecurity:
        uses_oauth = self.protocol.startswith("SASL_") and self.sasl_mechanism == "OAUTHBEARER"
        if uses_oauth and self.oauthbearer is None:
            raise ValueError("sasl_mechanism OAUTHBEARER needs kafka.security.oauthbearer (a token endpoint)")
        if self.oauthbearer is not None and not uses_oauth:
            raise ValueError(
                "kafka.security.oauthbearer is used only with a SASL protocol and sasl_mechanism OAUTHBEARER"
            )
        return self


ClientValue = str | int | float | bool


class ClientSettings(_Strict):
    """Extra librdkafka properties per client role, for what the config has no setting for (a
    cluster's TLS details, fetch sizes, timeouts). The properties the gateway sets itself for
    its guarantees can't be overridden (streams/config/checks.py names them); `check-config`
    and `run` build each client offline to refuse a property librdkafka doesn't know."""

    consumer: dict[str, ClientValue] = {}
    producer: dict[str, ClientValue] = {}
    admin: dict[str, ClientValue] = {}


class KafkaSettings(_Strict):
    bootstrap_servers: str = "127.0.0.1:19092"
    group_id: str = "residency-gateway"
    # Events consumed and handled per batch; the batch is the unit of commit.
    batch_size: int = Field(default=2000, ge=1, le=100_000)
    # A batch also closes once it has run this long: what it didn't reach starts the
    # next batch, so a backlog can't make every batch, and every event's wait, longer.
    max_batch_ms: int = Field(default=1000, ge=1, le=600_000)
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
    # A worker restarted with the same --worker-id takes them back at once (static membership).
    session_timeout_ms: int = Field(default=10_000, ge=3_000, le=300_000)
    # How long `run` may take to stop on SIGTERM: the open batch commits or aborts, the clients
    # close, and the process exits 0 by then, whatever faust's own consumer group is doing.
    stop_timeout_ms: int = Field(default=10_000, ge=1_000, le=600_000)
    # Extra librdkafka properties for the consumer, the producers and the admin client.
    client_settings: ClientSettings = ClientSettings()
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


def _format_name(name: str) -> str:
    if name not in FORMAT_NAMES:
        raise ValueError(f"{name!r} is not a collector format ({', '.join(FORMAT_NAMES)})")
    return name


FormatName = Annotated[str, AfterValidator(_format_name)]  # a name in streams/formats/registry.py
SignalName = Literal["declared", "upstream_country", "ip", "locale", "timezone"]


def check_field_path(value: str | list[str | int]) -> str | list[str | int]:
    parts = value.split(".") if isinstance(value, str) else value
    if not parts or any(part == "" for part in parts):
        raise ValueError(f"{value!r} is not a field path (keys joined by '.', or a list of keys)")
    return value


# A field in an event: "context.ip", or a list of keys when a key holds dots itself.
FieldPath = Annotated[str | list[str | int], AfterValidator(check_field_path)]


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
    from streams.formats.allowlist import (
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
        from streams.formats.allowlist import keep_path_text, parse_keep_path

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


# What a gateway policy uses when its `consent.purposes` is null: each format's own defaults
# (`consent_categories`). Each list names alternatives: one of them granted (and none denied)
# grants the purpose. A format a purpose leaves out can't express it (GA4's Measurement Protocol
# has no analytics consent), so it is ungated there.
DEFAULT_PURPOSES: Mapping[str, Mapping[str, Sequence[str]]] = default_purposes()


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
    # Data older than this many days is warned about by `run` (at start) and `check-config`.
    max_age_days: int = Field(default=180, ge=1, le=3650)


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


CollectRoute = Literal["segment", "snowplow", "ga4", "webhook"]


def _networks(values: list[str]) -> list[str]:
    import ipaddress

    for value in values:
        ipaddress.ip_network(value, strict=False)  # ValueError names the bad one
    return values


class CollectSettings(_Strict):
    """`residency-gateway collect`: the HTTP endpoint the SDKs send to (docs/collect.md)."""

    # Peers whose X-Forwarded-For / Forwarded and CDN country headers are believed (CIDRs);
    # from anyone else those headers are ignored, and the client IP is the TCP peer.
    trusted_proxies: Annotated[list[str], AfterValidator(_networks)] = []
    # Comma-separated write keys (Segment, RudderStack) and GA4 API secrets; unknown ones get 401.
    write_keys_env: EnvName = "RESIDENCY_GATEWAY_WRITE_KEYS"
    # A file of write keys and secrets, one per line (a mounted Secret), read with the variable's.
    write_keys_file: str | None = None
    # Where each protocol's records go (segment, snowplow, ga4, webhook); unnamed: the first ingest topic.
    topics: dict[CollectRoute, TopicName] = {}
    # Segment's limits: one event, and one request body once inflated.
    max_event_bytes: int = Field(default=32 * 1024, ge=1024, le=1024 * 1024)
    max_body_bytes: int = Field(default=500 * 1024, ge=1024, le=16 * 1024 * 1024)
    # How long a request waits for the broker's acknowledgement before it is answered 503.
    ack_timeout_ms: int = Field(default=10_000, ge=100, le=120_000)
    # Records the producer may hold unacknowledged; past it, requests get 503 with Retry-After.
    max_queued_records: int = Field(default=100_000, ge=100, le=10_000_000)


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
    # The built-in `pseudonymized` set stays beside the sets a policy declares, unless it redefines it.
    field_rules: Annotated[dict[str, FieldRules], AfterValidator(_with_built_in_rules)] = {
        "pseudonymized": FieldRules()
    }
    consent: ConsentSettings = ConsentSettings()
    erasure: ErasureSettings = ErasureSettings()
    access: AccessSettings = AccessSettings()
    collect: CollectSettings = CollectSettings()

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

"""Snowplow enriched events: the TSV line enrich writes to its enriched stream, and the SDKs' JSON of it.

Enrich writes one event per record, as one line of ENRICHED_FIELDS tab-separated
values (empty where the event has no value). The Snowplow Analytics SDKs turn that
line into a JSON object: fields by name with typed values, empty fields left out,
each context entity under `contexts_<vendor>_<name>_<model>` as a list of its data,
the self-describing event under `unstruct_event_<vendor>_<name>_<model>`.

An app declares its residency with the same context entity as in the tracker
protocol (see `snowplow.RESIDENCY_SCHEMA`), or the self-describing event of it. It
is read wherever an entity can sit: `contexts`, `derived_contexts` (what enrichments
added, or what a pipeline moved there) and `unstruct_event`; in the JSON form under
`contexts_`, `derived_contexts_` and `unstruct_event_io_residencygateway_residency_<major>`,
with the key's case ignored. Every residency entity is evidence, and one of another
major version, or another spelling of its schema, can't be read.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from streams.formats.allowlists.snowplow_enriched import (
    SNOWPLOW_ENRICHED_JSON_ALLOWED,
    SNOWPLOW_ENRICHED_TSV_ALLOWED,
)
from streams.formats.base import (
    EACH,
    CollectorFormat,
    DecodedEvent,
    Evidence,
    EvidenceReader,
    Path,
    PayloadError,
    PersonalFields,
    SignalFields,
    Unreadable,
    json_bytes,
    path_text,
    read_evidence,
)
from streams.formats.consent import NOTHING, Consent, merged
from streams.formats.exact_json import JsonRefused, read_json
from streams.formats.snowplow import CONTEXTS, RESIDENCY_SCHEMA, entity_evidence, envelope_problem
from streams.formats.snowplow_consent import (
    CONSENT_EVENTS,
    PREFERENCES,
    SNOWPLOW_CONSENT_CATEGORIES,
    VENDOR,
    from_entities,
    from_event,
    from_self_describing,
    preferences,
)

# The canonical event model, in the order of the enriched TSV's columns.
ENRICHED_FIELDS: tuple[str, ...] = (
    "app_id", "platform", "etl_tstamp", "collector_tstamp", "dvce_created_tstamp", "event", "event_id",
    "txn_id", "name_tracker", "v_tracker", "v_collector", "v_etl", "user_id", "user_ipaddress",
    "user_fingerprint", "domain_userid", "domain_sessionidx", "network_userid", "geo_country",
    "geo_region", "geo_city", "geo_zipcode", "geo_latitude", "geo_longitude", "geo_region_name",
    "ip_isp", "ip_organization", "ip_domain", "ip_netspeed", "page_url", "page_title", "page_referrer",
    "page_urlscheme", "page_urlhost", "page_urlport", "page_urlpath", "page_urlquery",
    "page_urlfragment", "refr_urlscheme", "refr_urlhost", "refr_urlport", "refr_urlpath",
    "refr_urlquery", "refr_urlfragment", "refr_medium", "refr_source", "refr_term", "mkt_medium",
    "mkt_source", "mkt_term", "mkt_content", "mkt_campaign", "contexts", "se_category", "se_action",
    "se_label", "se_property", "se_value", "unstruct_event", "tr_orderid", "tr_affiliation",
    "tr_total", "tr_tax", "tr_shipping", "tr_city", "tr_state", "tr_country", "ti_orderid", "ti_sku",
    "ti_name", "ti_category", "ti_price", "ti_quantity", "pp_xoffset_min", "pp_xoffset_max",
    "pp_yoffset_min", "pp_yoffset_max", "useragent", "br_name", "br_family", "br_version", "br_type",
    "br_renderengine", "br_lang", "br_features_pdf", "br_features_flash", "br_features_java",
    "br_features_director", "br_features_quicktime", "br_features_realplayer",
    "br_features_windowsmedia", "br_features_gears", "br_features_silverlight", "br_cookies",
    "br_colordepth", "br_viewwidth", "br_viewheight", "os_name", "os_family", "os_manufacturer",
    "os_timezone", "dvce_type", "dvce_ismobile", "dvce_screenwidth", "dvce_screenheight",
    "doc_charset", "doc_width", "doc_height", "tr_currency", "tr_total_base", "tr_tax_base",
    "tr_shipping_base", "ti_currency", "ti_price_base", "base_currency", "geo_timezone",
    "mkt_clickid", "mkt_network", "etl_tags", "dvce_sent_tstamp", "refr_domain_userid",
    "refr_device_tstamp", "derived_contexts", "domain_sessionid", "derived_tstamp", "event_vendor",
    "event_name", "event_format", "event_version", "event_fingerprint", "true_tstamp",
)  # fmt: skip
FIELD_COUNT = len(ENRICHED_FIELDS)  # 131
# The key the SDKs give any 1-x-y version of the residency entity in the JSON form.
RESIDENCY_JSON_KEY = "contexts_io_residencygateway_residency_1"
# contexts_<vendor>_<name>_<major>: the JSON form's key of an entity's major version.
_ENTITY_KEY = re.compile(r"contexts_\w+_\d+")
# The JSON form's prefixes of entity keys: an entity the app attached, one an enrichment
# added, the self-describing event (an object, not a list).
_JSON_ENTITY_PREFIXES = ("contexts_", "derived_contexts_", "unstruct_event_")
_JSON_EVENT_PREFIX = "unstruct_event_"
# Enrich sets these on every event it emits.
_REQUIRED = ("event_id", "collector_tstamp")
_IP_PATHS: tuple[Path, ...] = (("user_ipaddress",),)
# The TSV columns that hold JSON documents of entities and of the self-describing event.
_ENTITY_COLUMNS = ("contexts", "derived_contexts", "unstruct_event")
_CONTEXT_COLUMNS = ("contexts", "derived_contexts")
# Tabs and line breaks in a written value would shift every column after it.
_TSV_SAFE = str.maketrans({"\t": " ", "\n": " ", "\r": " "})


def _fields(declared: Path) -> SignalFields:
    # Both forms keep every signal but the residency entity in the same top-level field.
    return SignalFields(
        declared=(declared,),
        upstream_country=(("geo_country",),),
        ip=_IP_PATHS,
        locale=(("br_lang",),),
        timezone=(("os_timezone",),),
    )


class _SnowplowEnrichedFormat(CollectorFormat):
    consent_categories = SNOWPLOW_CONSENT_CATEGORIES
    personal = PersonalFields(
        user_id=(("user_id",),),
        # Cookie ids, fingerprint, session id, and the cookie id passed on by cross-domain links.
        anonymous_id=tuple(
            (name,)
            for name in (
                "domain_userid",
                "network_userid",
                "user_fingerprint",
                "domain_sessionid",
                "refr_domain_userid",
            )
        ),
        ip=_IP_PATHS,
        # Enrich's IP lookups finer than the country; geo_country stays.
        geo=tuple(
            (name,)
            for name in (
                "geo_region",
                "geo_city",
                "geo_zipcode",
                "geo_latitude",
                "geo_longitude",
                "geo_region_name",
                "ip_isp",
                "ip_organization",
                "ip_domain",
                "ip_netspeed",
            )
        ),
        user_agent=(("useragent",),),
        timestamp=tuple(
            (name,)
            for name in (
                "collector_tstamp",
                "dvce_created_tstamp",
                "dvce_sent_tstamp",
                "etl_tstamp",
                "derived_tstamp",
                "true_tstamp",
                "refr_dvce_tstamp",
            )
        ),
    )

    def event_id(self, event: dict[str, Any]) -> str | None:
        event_id = event.get("event_id")
        return event_id if isinstance(event_id, str) else None


class SnowplowEnrichedTsvFormat(_SnowplowEnrichedFormat):
    """The enriched TSV line; an event's body is {field name: value} for its non-empty fields."""

    name = "snowplow_enriched_tsv"
    reads_json = False
    allowed = SNOWPLOW_ENRICHED_TSV_ALLOWED

    @staticmethod
    def consent(event: dict[str, Any]) -> Consent | None:
        return _enriched_tsv_consent(event)

    fields = _fields((CONTEXTS, RESIDENCY_SCHEMA, "residency"))

    def matches(self, document: dict[str, Any]) -> bool:
        return False  # never JSON: see `matches_text`

    def matches_text(self, raw: bytes) -> bool:
        # Counts tabs in the first line only, so that several events in one record are
        # still claimed here and rejected by `split` with a reason.
        if raw[:1] == b"{":
            return False
        end = raw.find(b"\n")
        return raw.count(b"\t", 0, len(raw) if end < 0 else end) == FIELD_COUNT - 1

    def split(self, document: dict[str, Any], raw: bytes) -> list[DecodedEvent]:
        line = _without_line_end(raw)
        breaks = line.count(b"\n")
        if breaks:
            raise PayloadError(f"enriched TSV record holds {breaks + 1} lines, expected one")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise PayloadError("enriched TSV is not UTF-8") from None
        values = text.split("\t")
        if len(values) != FIELD_COUNT:
            raise PayloadError(f"enriched TSV has {len(values)} fields, expected {FIELD_COUNT}")
        body = {name: value for name, value in zip(ENRICHED_FIELDS, values, strict=True) if value}
        _check_required(body)
        return [DecodedEvent(0, body, raw=raw)]

    personal = dataclasses.replace(
        _SnowplowEnrichedFormat.personal,
        trait_containers=(
            ("contexts", "data", EACH),
            ("derived_contexts", "data", EACH),
            ("unstruct_event", "data"),
        ),
    )

    def encode(self, event: dict[str, Any], envelope: dict[str, Any]) -> bytes:
        return "\t".join(_tsv_value(event.get(name)) for name in ENRICHED_FIELDS).encode("utf-8")

    def expanded(self, event: dict[str, Any]) -> dict[str, Any]:
        # The entity columns hold JSON text; `encode` writes objects back as JSON.
        if not any(column in event for column in _ENTITY_COLUMNS):
            return event
        expanded = dict(event)
        for column in _ENTITY_COLUMNS:
            text = event.get(column)
            if isinstance(text, str):
                expanded[column] = _column_json(text, column, "transform")
        return expanded

    def evidence_reader(self, signal: str, path: Path) -> EvidenceReader:
        if len(path) >= 2 and path[0] == CONTEXTS:
            return _read_entities
        return super().evidence_reader(signal, path)


class SnowplowEnrichedJsonFormat(_SnowplowEnrichedFormat):
    """The JSON the Snowplow Analytics SDKs make of an enriched event; one event per record."""

    name = "snowplow_enriched_json"
    allowed = SNOWPLOW_ENRICHED_JSON_ALLOWED

    @staticmethod
    def consent(event: dict[str, Any]) -> Consent | None:
        return _enriched_json_consent(event)

    fields = _fields((RESIDENCY_JSON_KEY, EACH, "residency"))

    def matches(self, document: dict[str, Any]) -> bool:
        return (
            isinstance(document.get("event_id"), str)
            and isinstance(document.get("collector_tstamp"), str)
            and isinstance(document.get("v_etl"), str)
        )

    def split(self, document: dict[str, Any], raw: bytes) -> list[DecodedEvent]:
        _check_required(document)
        return [DecodedEvent(0, document, raw=raw)]

    # Each schema's entities under a key of their own (contexts_<vendor>_<name>_<major>).
    personal = dataclasses.replace(
        _SnowplowEnrichedFormat.personal,
        trait_containers=(("contexts_*", EACH), ("derived_contexts_*", EACH), ("unstruct_event_*",)),
    )

    def encode(self, event: dict[str, Any], envelope: dict[str, Any]) -> bytes:
        return json_bytes(event)

    def evidence_reader(self, signal: str, path: Path) -> EvidenceReader:
        key = path[0]
        if len(path) >= 3 and path[1] == EACH and isinstance(key, str) and _ENTITY_KEY.fullmatch(key):
            return _read_entity_keys
        return super().evidence_reader(signal, path)


def _without_line_end(raw: bytes) -> bytes:
    if raw.endswith(b"\r\n"):
        return raw[:-2]
    return raw[:-1] if raw.endswith(b"\n") else raw


def _check_required(event: dict[str, Any]) -> None:
    for name in _REQUIRED:
        value = event.get(name)
        if not isinstance(value, str) or not value:
            raise PayloadError(f"enriched event has no {name}")


def _tsv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):  # the TSV writes booleans as 1 and 0
        text = "1" if value else "0"
    elif isinstance(value, dict | list):
        text = json_bytes(value).decode("utf-8")
    else:
        text = str(value)
    return text.translate(_TSV_SAFE)


_OTHER_MAJOR = Unreadable("an entity of the schema in a major version the gateway doesn't know")


def _read_entities(event: dict[str, Any], path: Path, label: str, into: list[Evidence]) -> None:
    """(CONTEXTS, schema prefix, keys...): the keys in every matching entity of the entity columns."""
    located: list[tuple[Path, Any]] = []
    for column in _CONTEXT_COLUMNS:
        entities = _contexts(event.get(column), column)
        located += (((column, "data", index), entity) for index, entity in enumerate(entities))
    text = event.get("unstruct_event")
    if isinstance(text, str) and text:
        envelope = _column_json(text, "unstruct_event", "classify")
        if isinstance(envelope, dict):
            _check_envelope(envelope, "unstruct_event", "unstruct_event")
            located.append((("unstruct_event", "data"), envelope.get("data")))
    entity_evidence(located, str(path[1]), path[2:], into)


def _read_entity_keys(event: dict[str, Any], path: Path, label: str, into: list[Evidence]) -> None:
    """(contexts_<vendor>_<name>_<major>, EACH, keys...): the keys in every entity of that schema.

    Read under each prefix (contexts_, derived_contexts_, unstruct_event_), the key in any
    case; a key of another major version is evidence that can't be read (its meaning may
    have changed).
    """
    key = str(path[0])
    family = key[len("contexts_") :].rstrip("0123456789").lower()  # io_residencygateway_residency_
    major = key[len("contexts_") + len(family) :]
    # The family's keys, counted in one joined, lower-cased string (C speed): almost every
    # event has the exact key or none, and only a surplus (rare) is looked at one by one.
    mentions = "\0".join(event).lower().count("_" + family)
    if mentions == 0:
        return
    if mentions == 1 and key in event:
        _read_entity_list(event, key, path[2:], into)
        return
    for name in event:
        lowered = name.lower()
        prefix = next((p for p in _JSON_ENTITY_PREFIXES if lowered.startswith(p + family)), None)
        version = lowered[len(prefix or "") + len(family) :]
        if prefix is None or not name.isascii() or not version.isdigit():
            continue
        if version != major:
            into.append((_OTHER_MAJOR, name))
        elif prefix == _JSON_EVENT_PREFIX:
            _read_entity(event[name], (name,), path[2:], into)
        else:
            _read_entity_list(event, name, path[2:], into)


def _read_entity_list(event: dict[str, Any], key: str, path: Path, into: list[Evidence]) -> None:
    """`path` in every element of the list under `key` (each element is one entity's data)."""
    entities = event[key]
    if isinstance(entities, list):
        for index, entity in enumerate(entities):
            _read_entity(entity, (key, index), path, into)
    elif entities is None:  # present as null: the key was sent to say something
        into.append((_NULL_NOT_A_LIST, key))
    else:
        read_evidence(event, (key, EACH, *path), None, into)


def _read_entity(entity: Any, where: Path, path: Path, into: list[Evidence]) -> None:
    # An entity without the field can't be read: the app attached it to say something.
    found = len(into)
    read_evidence(entity, path, None, into, where)
    if len(into) == found:
        problem = Unreadable(f"an entity of its schema without {path_text(path)}")
        into.append((problem, path_text((*where, *path))))


_NULL_NOT_A_LIST = Unreadable("JSON null, not an array")


def _contexts(contexts: Any, column: str) -> list[Any]:
    """The entities in a contexts column (a JSON string); none when the column is empty."""
    if not isinstance(contexts, str) or not contexts:
        return []
    envelope = _column_json(contexts, column, "classify")
    if isinstance(envelope, dict):
        _check_envelope(envelope, column, "contexts")
    entities = envelope.get("data") if isinstance(envelope, dict) else None
    if not isinstance(entities, list):
        raise PayloadError(f"snowplow enriched {column} hold no data array", stage="classify")
    return entities


def _check_envelope(envelope: dict[str, Any], column: str, name: str) -> None:
    problem = envelope_problem(envelope.get("schema"), name)
    if problem is not None:
        raise PayloadError(f"snowplow enriched {column} {problem}", stage="classify")


def _column_json(text: str, column: str, stage: str) -> Any:
    """The JSON document a column holds, read exactly (streams/formats/exact_json.py)."""
    try:
        return read_json(text)
    except JsonRefused as refused:  # e.g. "snowplow enriched contexts is not valid JSON"
        raise PayloadError(f"snowplow enriched {column} {refused.reason}", stage=stage) from None


# --- consent ---------------------------------------------------------------------------------------


def _enriched_tsv_consent(event: dict[str, Any]) -> Consent | None:
    # Enrich names the self-describing event in event_vendor/event_name, so only a consent event's
    # unstruct_event is parsed. Entities come from contexts and derived_contexts alike, as the
    # SDK's JSON form can't tell them apart and the same event should gate the same in both forms.
    try:
        name = event.get("event_name")
        if name in CONSENT_EVENTS and event.get("event_vendor") == VENDOR:
            found = from_self_describing(_loaded(event.get("unstruct_event")), lambda: _tsv_entities(event))
            if found is not None:
                return found
        if any(PREFERENCES in text for text in _entity_columns(event)):
            return from_entities(_tsv_entities(event))
    except PayloadError:
        return NOTHING
    return None


def _entity_columns(event: dict[str, Any]) -> list[str]:
    return [text for text in (event.get("contexts"), event.get("derived_contexts")) if isinstance(text, str)]


def _tsv_entities(event: dict[str, Any]) -> list[Any]:
    entities: list[Any] = []
    for text in _entity_columns(event):
        envelope = _loaded(text)
        data = envelope.get("data") if isinstance(envelope, dict) else None
        if not isinstance(data, list):
            raise PayloadError("snowplow enriched contexts hold no data array", stage="classify")
        entities.extend(data)
    return entities


def _loaded(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return read_json(text)  # exactly: consent given twice in one document is no consent to guess at
    except JsonRefused:
        raise PayloadError("snowplow enriched consent is not valid JSON", stage="classify") from None


# The Analytics SDK's keys: any 1-x-y version of each schema.
_JSON_EVENT_KEYS = tuple(
    (name, f"unstruct_event_com_snowplowanalytics_snowplow_{name}_1") for name in CONSENT_EVENTS
)
_JSON_PREFERENCES_KEY = "contexts_com_snowplowanalytics_snowplow_consent_preferences_1"
_JSON_DOCUMENTS_KEY = "contexts_com_snowplowanalytics_snowplow_consent_document_1"


def _enriched_json_consent(event: dict[str, Any]) -> Consent | None:
    for name, key in _JSON_EVENT_KEYS:
        data = event.get(key)
        if data is not None:
            return from_event(name, data, lambda: _listed(event.get(_JSON_DOCUMENTS_KEY)))
    entities = event.get(_JSON_PREFERENCES_KEY)
    if entities is None:
        return None
    if not isinstance(entities, list):
        return NOTHING
    return merged([preferences(data) for data in entities])


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []

"""What a Snowplow tracker event (payload_data or GET parameters) may keep when it leaves its region.

The tracker protocol's parameters that carry no personal data, and, inside context
entities and self-describing events, the fields of Snowplow's own schemas. An entity
of any other schema is dropped whole (its schema is listed in the audit); a
self-describing event of any other schema keeps its schema, which names the event,
and none of its data. A destination's `keep` adds entities and fields it needs
(`co.data[com.acme/product].data.sku`).
"""

from __future__ import annotations

from streams.formats.allowlist import (
    ANONYMOUS_ID,
    COUNTRY,
    EVENT_ID,
    GEO,
    IP,
    KEEP,
    REFERRER,
    TIMESTAMP,
    URL,
    USER_AGENT,
    USER_ID,
    Obj,
    Spec,
    described,
    each,
    entities,
    kept,
    obj,
)

# Context entities, by "vendor/name" of their schema: the data fields that may leave.
ENTITY_FIELDS: dict[str, Spec] = {
    "com.snowplowanalytics.snowplow/web_page": kept("id"),  # a random id per page view
    # The session's user id is the tracker's cookie id, not the app's user id; all ids leave pseudonymized.
    "com.snowplowanalytics.snowplow/client_session": {
        "userId": ANONYMOUS_ID,
        "sessionId": ANONYMOUS_ID,
        "previousSessionId": ANONYMOUS_ID,
        "sessionIndex": KEEP,
        "storageMechanism": KEEP,
        "firstEventId": KEEP,
        "eventIndex": KEEP,
        "firstEventTimestamp": TIMESTAMP,
    },
    # Device facts stay; the advertising and vendor ids leave pseudonymized.
    "com.snowplowanalytics.snowplow/mobile_context": {
        **kept(
            "osType",
            "osVersion",
            "deviceManufacturer",
            "deviceModel",
            "carrier",
            "networkType",
            "networkTechnology",
            "physicalMemory",
            "systemAvailableMemory",
            "appAvailableMemory",
            "batteryLevel",
            "batteryState",
            "lowPowerMode",
            "availableStorage",
            "totalStorage",
            "isPortrait",
            "resolution",
            "scale",
            "language",
            "appSetIdScope",
        ),
        "openIdfa": ANONYMOUS_ID,
        "appleIdfa": ANONYMOUS_ID,
        "appleIdfv": ANONYMOUS_ID,
        "androidIdfa": ANONYMOUS_ID,
        "appSetId": ANONYMOUS_ID,
    },
    "com.snowplowanalytics.snowplow/desktop_context": kept(
        "osType",
        "osVersion",
        "osServicePack",
        "osIs64Bit",
        "deviceManufacturer",
        "deviceModel",
        "deviceProcessorCount",
    ),
    "com.snowplowanalytics.snowplow/browser_context": kept(
        "viewport",
        "documentSize",
        "resolution",
        "colorDepth",
        "devicePixelRatio",
        "cookiesEnabled",
        "online",
        "browserLanguage",
        "documentLanguage",
        "webdriver",
        "deviceMemory",
        "hardwareConcurrency",
    ),
    "com.snowplowanalytics.mobile/application": kept("version", "build"),
    "com.snowplowanalytics.mobile/screen": kept(
        "name", "type", "id", "activity", "fragment", "topViewController", "viewController"
    ),
    # A device's position: nothing coarser than the country is in it, so generalize drops it whole.
    "com.snowplowanalytics.snowplow/geolocation_context": {
        name: GEO
        for name in (
            "latitude",
            "longitude",
            "latitudeLongitudeAccuracy",
            "altitude",
            "altitudeAccuracy",
            "bearing",
            "speed",
        )
    },
    # The legal basis and document a consent refers to; the document's description is free text.
    "com.snowplowanalytics.snowplow/gdpr": kept("basisForProcessing", "documentId", "documentVersion"),
    # Page timings: numbers only.
    "org.w3/PerformanceTiming": obj({}, any_key=KEEP),
    # What enrichments derive (enriched events' derived_contexts): browser and OS families, bots.
    "com.snowplowanalytics.snowplow/ua_parser_context": kept(
        "useragentFamily",
        "useragentMajor",
        "useragentMinor",
        "osFamily",
        "osMajor",
        "osMinor",
        "deviceFamily",
    ),
    "com.iab.snowplow/spiders_and_robots": kept("spiderOrRobot", "category", "reason", "primaryImpact"),
}

# Self-describing events of Snowplow's own schemas: the fields that may leave. Link and element
# texts, form values and search terms are visitor input and stay home.
EVENT_FIELDS: dict[str, Spec] = {
    "com.snowplowanalytics.snowplow/link_click": {
        "targetUrl": URL,
        "elementId": KEEP,
        "elementClasses": each(KEEP),
        "elementTarget": KEEP,
    },
    "com.snowplowanalytics.snowplow/screen_view": kept(
        "name", "type", "id", "previousName", "previousType", "previousId", "transitionType"
    ),
    "com.snowplowanalytics.mobile/screen_view": kept(
        "name", "type", "id", "previousName", "previousType", "previousId", "transitionType"
    ),
    "com.snowplowanalytics.snowplow/submit_form": {"formId": KEEP, "formClasses": each(KEEP)},
    "com.snowplowanalytics.snowplow/focus_form": {
        **kept("formId", "elementId", "nodeName", "type"),
        "elementClasses": each(KEEP),
    },
    "com.snowplowanalytics.snowplow/change_form": {
        **kept("formId", "elementId", "nodeName", "type"),
        "elementClasses": each(KEEP),
    },
    "com.snowplowanalytics.snowplow/application_install": {},
    "com.snowplowanalytics.snowplow/application_foreground": kept("foregroundIndex"),
    "com.snowplowanalytics.snowplow/application_background": kept("backgroundIndex"),
    "com.snowplowanalytics.snowplow/timing": kept("category", "variable", "timing"),
    "com.snowplowanalytics.snowplow/site_search": kept("totalResults", "pageResults"),
    "com.snowplowanalytics.snowplow/consent_granted": kept("id", "version", "expiry"),
    "com.snowplowanalytics.snowplow/consent_withdrawn": kept("all"),
    "com.snowplowanalytics.snowplow.enhanced-consent/consent_preferences": {
        **kept("basisForProcessing", "consentVersion", "eventType", "gdprApplies"),
        "consentUrl": URL,
        "consentScopes": each(KEEP),
        "domainsApplied": each(KEEP),
    },
}


def entity_list() -> Spec:
    """A contexts document ({"schema": contexts, "data": [entities]}): its schema and Snowplow's entities."""
    return {"schema": KEEP, "data": entities(ENTITY_FIELDS)}


def event_document() -> Spec:
    """An unstruct_event document ({"schema": unstruct_event, "data": {"schema", "data"}})."""
    return {"schema": KEEP, "data": described(EVENT_FIELDS)}


_TRACKER: dict[str, Spec] = {
    # The event, the tracker and the app.
    "eid": EVENT_ID,
    **kept("e", "tv", "tna", "aid", "p"),
    # Device, browser and page facts.
    **kept("tz", "lang", "cs", "res", "vp", "ds", "cd", "cookie", "vid",
           "f_pdf", "f_qt", "f_realp", "f_wma", "f_dir", "f_fla", "f_java", "f_gears", "f_ag"),
    # Times the tracker set: cut to the hour.
    "dtm": TIMESTAMP, "stm": TIMESTAMP, "ttm": TIMESTAMP, "rtm": TIMESTAMP,
    # Where: the page without query or fragment, the referrer's host. `page` (the title) is free text.
    "url": URL, "refr": REFERRER,
    # Who: the app's user id, the tracker's cookie ids, fingerprint and session id, pseudonymized.
    "uid": USER_ID, "duid": ANONYMOUS_ID, "nuid": ANONYMOUS_ID, "tnuid": ANONYMOUS_ID,
    "fp": ANONYMOUS_ID, "sid": ANONYMOUS_ID,
    "ip": IP, "ua": USER_AGENT,
    # Structured events: category, action and value. Label and property are free-form strings.
    **kept("se_ca", "se_ac", "se_va"),
    # Transactions and their items. The order id leads to one customer's order: pseudonymized.
    # The buyer's city and state are left out; the country stays.
    **kept("tr_af", "tr_tt", "tr_tx", "tr_sh", "tr_cu"),
    **kept("ti_sk", "ti_nm", "ti_ca", "ti_pr", "ti_qu", "ti_cu"),
    "tr_id": ANONYMOUS_ID, "ti_id": ANONYMOUS_ID,
    "tr_co": COUNTRY,
    # Page pings: scroll offsets.
    **kept("pp_mix", "pp_max", "pp_miy", "pp_may"),
    # Context entities and the self-describing event, as a copy writes them (plain JSON).
    "co": entity_list(),
    "ue_pr": event_document(),
}  # fmt: skip

SNOWPLOW_ALLOWED: Obj = obj(_TRACKER)

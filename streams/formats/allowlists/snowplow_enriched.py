"""What a Snowplow enriched event (TSV line or the Analytics SDKs' JSON) may keep when it leaves its region.

Every one of the canonical event model's 131 fields is named below or left out on
purpose (see the comments). In the TSV form a field left out is written empty, so the
line keeps its 131 columns; entities follow streams/allowlists/snowplow.py.
"""

from __future__ import annotations

import re

from streams.formats.allowlist import (
    ANONYMOUS_ID,
    COUNTRY,
    EVENT_ID,
    IP,
    KEEP,
    PATH,
    REFERRER,
    TIMESTAMP,
    URL,
    USER_AGENT,
    USER_ID,
    Obj,
    Spec,
    each,
    kept,
    obj,
)
from streams.formats.allowlists.snowplow import ENTITY_FIELDS, EVENT_FIELDS, entity_list, event_document

_FIELDS: dict[str, Spec] = {
    # The event, the app, the tracker and the pipeline.
    "event_id": EVENT_ID,
    **kept("app_id", "platform", "event", "txn_id", "name_tracker", "v_tracker",
           "v_collector", "v_etl", "etl_tags", "event_vendor", "event_name", "event_format",
           "event_version"),
    # Times: cut to the hour.
    **dict.fromkeys(("etl_tstamp", "collector_tstamp", "dvce_created_tstamp", "dvce_sent_tstamp",
                     "refr_dvce_tstamp", "derived_tstamp", "true_tstamp"), TIMESTAMP),
    # Who: pseudonymized.
    "user_id": USER_ID, "user_ipaddress": IP,
    **dict.fromkeys(("user_fingerprint", "domain_userid", "network_userid", "domain_sessionid",
                     "refr_domain_userid"), ANONYMOUS_ID),
    "domain_sessionidx": KEEP,
    # Where: the country (and the time zone geolocation gives, no finer). geo_region, geo_city,
    # geo_zipcode, geo_latitude, geo_longitude, geo_region_name and the ip_* lookups are left out.
    "geo_country": COUNTRY, "geo_timezone": KEEP,
    # The page: without query or fragment; the title is free text. The referrer: its host.
    "page_url": URL, "page_urlscheme": KEEP, "page_urlhost": KEEP, "page_urlport": KEEP,
    "page_urlpath": PATH,
    "page_referrer": REFERRER, "refr_urlscheme": KEEP, "refr_urlhost": KEEP, "refr_urlport": KEEP,
    "refr_medium": KEEP, "refr_source": KEEP,
    # Marketing: the campaign, not the term typed or the click id (mkt_clickid names one click).
    **kept("mkt_medium", "mkt_source", "mkt_campaign", "mkt_network"),
    # Structured events: category, action, value (label and property are free-form strings).
    **kept("se_category", "se_action", "se_value"),
    # Transactions and items; order ids pseudonymized, the buyer's city and state left out.
    **kept("tr_affiliation", "tr_total", "tr_tax", "tr_shipping", "tr_currency", "tr_total_base",
           "tr_tax_base", "tr_shipping_base", "ti_sku", "ti_name", "ti_category", "ti_price",
           "ti_quantity", "ti_currency", "ti_price_base", "base_currency"),
    "tr_orderid": ANONYMOUS_ID, "ti_orderid": ANONYMOUS_ID,
    "tr_country": COUNTRY,
    # Page pings, browser, OS and device facts.
    **kept("pp_xoffset_min", "pp_xoffset_max", "pp_yoffset_min", "pp_yoffset_max"),
    "useragent": USER_AGENT,
    **kept("br_name", "br_family", "br_version", "br_type", "br_renderengine", "br_lang",
           "br_features_pdf", "br_features_flash", "br_features_java", "br_features_director",
           "br_features_quicktime", "br_features_realplayer", "br_features_windowsmedia",
           "br_features_gears", "br_features_silverlight", "br_cookies", "br_colordepth",
           "br_viewwidth", "br_viewheight", "os_name", "os_family", "os_manufacturer", "os_timezone",
           "dvce_type", "dvce_ismobile", "dvce_screenwidth", "dvce_screenheight", "doc_charset",
           "doc_width", "doc_height"),
}  # fmt: skip
# Left out on purpose: page_title, page_urlquery, page_urlfragment, refr_urlpath, refr_urlquery,
# refr_urlfragment, refr_term, mkt_term, mkt_content, mkt_clickid, se_label, se_property,
# tr_city, tr_state, geo_region, geo_city, geo_zipcode, geo_latitude, geo_longitude,
# geo_region_name, ip_isp, ip_organization, ip_domain, ip_netspeed, event_fingerprint.

SNOWPLOW_ENRICHED_TSV_ALLOWED: Obj = obj(
    {
        **_FIELDS,
        # JSON columns, which the copy reads as documents.
        "contexts": entity_list(),
        "derived_contexts": entity_list(),
        "unstruct_event": event_document(),
    }
)


def sdk_key(prefix: str, schema: str, major: int = 1) -> str:
    """The key the Analytics SDKs give a schema's entities: contexts_com_acme_user_1."""
    vendor, name = schema.split("/")
    snake = _CAMEL.sub(r"\1_\2", name).lower()  # PerformanceTiming → performance_timing, as the SDKs do
    return f"{prefix}_{vendor.replace('.', '_').lower()}_{snake}_{major}"


_CAMEL = re.compile("([^A-Z_])([A-Z])")


# In the JSON form each schema's entities sit under a key of their own, as a list of data objects,
# and the self-describing event under unstruct_event_<vendor>_<name>_<major> as its data object.
SNOWPLOW_ENRICHED_JSON_ALLOWED: Obj = obj(
    {
        **_FIELDS,
        **{sdk_key("contexts", schema): each(fields) for schema, fields in ENTITY_FIELDS.items()},
        **{sdk_key("unstruct_event", schema): fields for schema, fields in EVENT_FIELDS.items()},
    }
)

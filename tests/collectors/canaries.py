"""Canary personal data in every collector format, and every form in which it would count as leaked.

Each payload carries the same canary person (an EU user: GB IP or GB country) in the
fields its format keeps personal data in, in free text and in URL query strings.
Real SDKs make the payloads where one exists. `leaked_forms` lists the canaries as
written, normalized, and hashed without a key (MD5, SHA-1, SHA-256, hex and upper
hex): a copy holding any of them outside the home region has leaked.
"""

from __future__ import annotations

import base64
import hashlib
import html
from urllib.parse import quote

import orjson
from snowplow_analytics_sdk.event_transformer import transform
from snowplow_tracker import PageView, SelfDescribing, SelfDescribingJson

from tests.collectors.capture import (
    ga4_body,
    ga4_event,
    rudderstack_records,
    segment_records,
    snowplow_get_records,
    snowplow_post_records,
    snowplow_subject,
    spec_call,
)
from tests.collectors.enriched_lines import enriched_line

EMAIL = "Zebulon.Quackenbush@Canary-Mail.example"
PHONE = "+44 20 7946 0321"
PHONE_E164 = "+442079460321"
IP = "81.2.69.199"  # GB: the canary's home region is eu
FIRST, LAST = "Zebulon", "Quackenbush"
USER_ID = "canary-user-5f3a9c"
ANONYMOUS_ID = "canary-anon-77c1d2"
URL = f"https://shop.example/account?email={quote(EMAIL)}&tab=orders"
NOTE = f"please call {PHONE} or write to {EMAIL}"
CANARY_GENERIC_TOPIC_FIELDS = {
    "identifiers": ["user.id"],
    "emails": ["user.email"],
    "names": ["user.name"],
    "ip": ["client.ip"],
}


def leaked_forms() -> list[str]:
    """Every text whose presence outside the home region means a canary leaked."""
    plain = [EMAIL, EMAIL.lower(), PHONE, PHONE_E164, PHONE_E164[1:], IP, FIRST, LAST, f"{FIRST} {LAST}",
             USER_ID, ANONYMOUS_ID]  # fmt: skip
    forms = {*plain, quote(EMAIL), quote(EMAIL.lower()), FIRST.lower(), LAST.lower()}
    for value in plain:
        for algorithm in ("md5", "sha1", "sha256"):
            digest = hashlib.new(algorithm, value.encode()).hexdigest()
            forms |= {digest, digest.upper()}
    return sorted(forms)


def _user_entity() -> SelfDescribingJson:
    return SelfDescribingJson(
        "iglu:com.acme/user/jsonschema/1-0-0",
        {"email": EMAIL, "first_name": FIRST, "last_name": LAST, "phone": PHONE, "tier": "gold"},
    )


def canary_payloads() -> list[tuple[str, bytes]]:
    """(format, payload) for every built-in collector format."""
    traits = {"email": EMAIL, "firstName": FIRST, "lastName": LAST, "phone": PHONE, "plan": "pro"}
    context = {"ip": IP, "page": {"url": URL, "path": "/account"}, "traits": {"email": EMAIL}}
    calls = [
        spec_call("identify", context=context, user_id=USER_ID, anonymous_id=ANONYMOUS_ID, traits=traits),
        spec_call("track", context=context, user_id=USER_ID, event="Support Requested",
                  properties={"note": NOTE, "price": 12.5, "email": EMAIL}),
    ]  # fmt: skip
    payloads = [("segment", record) for record in segment_records(calls)]
    payloads += [("rudderstack", record) for record in rudderstack_records(calls, request_ip=IP)]
    subject = snowplow_subject(ip=IP, user_id=USER_ID)
    views = [PageView(page_url=URL, page_title=NOTE, context=[_user_entity()])]
    payloads += [("snowplow", r) for r in snowplow_post_records(views, subject=subject, encode_base64=True)]
    payloads += [
        ("snowplow_get", r) for r in snowplow_get_records(views, subject=subject, encode_base64=False)
    ]
    contexts = {"schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1",
                "data": [{"schema": "iglu:com.acme/user/jsonschema/1-0-0",
                          "data": {"email": EMAIL, "first_name": FIRST, "last_name": LAST}}]}  # fmt: skip
    line = enriched_line(
        {"user_id": USER_ID, "domain_userid": ANONYMOUS_ID, "user_ipaddress": IP, "geo_country": "GB",
         "geo_city": "London", "page_url": URL, "page_urlquery": f"email={quote(EMAIL)}&tab=orders",
         "page_title": NOTE, "contexts": orjson.dumps(contexts).decode()},
        residency=None,
    )  # fmt: skip
    payloads.append(("snowplow_enriched_tsv", line.encode()))
    payloads.append(("snowplow_enriched_json", orjson.dumps(transform(line))))
    sha256_email = hashlib.sha256(EMAIL.lower().encode()).hexdigest()
    ga4 = ga4_body(
        client_id=ANONYMOUS_ID, user_id=USER_ID, ip_override=IP,
        user_properties={"first_name": FIRST, "last_name": LAST, "email": EMAIL, "tier": "gold"},
        events=[ga4_event("page_view", page_location=URL, page_title=NOTE)],
    )  # fmt: skip
    body = orjson.loads(ga4)
    body["user_data"] = {"sha256_email_address": [sha256_email]}
    payloads.append(("ga4", orjson.dumps(body)))
    return payloads


def generic_canary() -> bytes:
    """An event of a format of one's own, for a topic pinned to `generic` (CANARY_GENERIC_TOPIC_FIELDS)."""
    return orjson.dumps(
        {
            "user": {"id": USER_ID, "email": EMAIL, "name": f"{FIRST} {LAST}"},
            "client": {"ip": IP},
            "action": "signup",
            "note": NOTE,
        }
    )


# --- canaries where the allowlists don't look, in forms the value scan must see through ----------

DEVICE_ID = "canary-device-3e9b41"
AD_ID = "CANARY-IDFA-0b7d5c"
SESSION_ID = "canary-session-91a4f0"
TRAIT_ID = "canary-trait-6d02ae"
FULL_NAME = f"{FIRST} {LAST}"
_IDENTIFYING = (
    EMAIL,
    PHONE_E164,
    IP,
    FIRST,
    LAST,
    USER_ID,
    ANONYMOUS_ID,
    DEVICE_ID,
    AD_ID,
    SESSION_ID,
    TRAIT_ID,
)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def canary_forms() -> list[str]:
    """Every form in which a canary counts as leaked: raw, lower-cased, URL-encoded, HTML-escaped,
    base64 (both alphabets, padded or not) and MD5/SHA-1/SHA-256 hex."""
    forms: set[str] = set()
    for value in (*_IDENTIFYING, EMAIL.lower(), PHONE_E164[1:], FULL_NAME):
        forms |= {
            value,
            value.lower(),
            quote(value, safe=""),
            html.escape(value),
            value.replace("@", "&#64;"),
        }
        for encoded in (base64.b64encode(value.encode()), base64.urlsafe_b64encode(value.encode())):
            forms |= {encoded.decode(), encoded.decode().rstrip("=")}
        for algorithm in ("md5", "sha1", "sha256"):
            digest = hashlib.new(algorithm, value.encode()).hexdigest()
            forms |= {digest, digest.upper()}
    return sorted(forms)


def _hostile_url() -> str:
    # A path made of the person's ids and name; a query of linker parameters; user info; a fragment.
    return (
        f"https://{USER_ID}:pw@shop.example/users/{USER_ID}/{FIRST.lower()}-{LAST.lower()}/"
        f"{quote(EMAIL)};jsessionid={SESSION_ID}?ajs_uid={USER_ID}&ajs_aid={ANONYMOUS_ID}&_sp={DEVICE_ID}.1"
        f"&email={quote(EMAIL)}#{ANONYMOUS_ID}"
    )


def _hostile_text() -> str:
    # The value scan's old blind spots: control characters and a backslash right before an email,
    # a 70-character token glued to one, a phone with no-break spaces and en dashes, base64 and a
    # hash of the email, a plain digit run.
    token = "t" * 70
    return (
        f"\u000b{EMAIL} \u0007{EMAIL} \\{EMAIL} {token}{EMAIL} +44\u00a020\u201379460321 "
        f"{_b64(EMAIL)} {hashlib.sha256(EMAIL.lower().encode()).hexdigest()} {PHONE_E164[1:]}"
    )


def _hostile_fields() -> dict[str, object]:
    """Custom keys and other casings, which no allowlist names."""
    return {
        "customer_email": EMAIL, "CustomerName": FULL_NAME, "FIRST_NAME": FIRST, "Address": "1 Canary Row",
        "contact": {"Phone": PHONE, "mobile": PHONE_E164}, "note": _hostile_text(), EMAIL: True,
    }  # fmt: skip


def hostile_canary_payloads() -> list[tuple[str, bytes]]:
    """(format, payload) for every built-in format: SDK-made events with canaries in custom fields,
    URLs, headers, other casings and encodings, in fields the allowlists keep as well as ones they
    don't. The canary person is in the EU (a GB IP or country), so copies go to the global topic."""
    url = _hostile_url()
    text = _hostile_text()
    context = {
        "ip": IP,
        "page": {"url": url, "path": f"/users/{USER_ID}/{quote(EMAIL)}", "referrer": url, "title": text,
                 "search": f"?q={FULL_NAME}"},
        "campaign": {"name": f"spring {EMAIL.replace('@', '&#64;')}", "source": text, "content": EMAIL},
        "headers": {"Cookie": f"ajs_user_id={USER_ID}", "Authorization": f"Bearer {_b64(EMAIL)}",
                    "X-Email": EMAIL},
        "device": {"id": DEVICE_ID, "advertisingId": AD_ID, "token": AD_ID, "name": f"{FIRST}'s iPhone"},
        "traits": {"id": TRAIT_ID, "Name": FULL_NAME, "FirstName": FIRST, "EMAIL": EMAIL},
        "library": {"name": "analytics-python", "version": f"2.3 {EMAIL}"},
        "externalId": [{"id": TRAIT_ID, "type": "crm"}],
        "sessionId": SESSION_ID,
    }  # fmt: skip
    properties = {**_hostile_fields(), "url": url, "path": url, "name": text, "revenue": 12.5,
                  "products": [{"sku": f"sku-{USER_ID}", "name": text, "custom": EMAIL}]}  # fmt: skip
    calls = [
        spec_call("identify", context=context, user_id=USER_ID, anonymous_id=ANONYMOUS_ID,
                  traits={**_hostile_fields(), "id": TRAIT_ID}),
        spec_call("track", context=context, user_id=USER_ID, anonymous_id=ANONYMOUS_ID,
                  event=f"Viewed {FIRST}", properties=properties),
        spec_call("page", context=context, user_id=USER_ID, name=text, properties=properties),
    ]  # fmt: skip
    payloads = [("segment", record) for record in segment_records(calls)]
    payloads += [("rudderstack", record) for record in rudderstack_records(calls, request_ip=IP)]
    subject = snowplow_subject(ip=IP, user_id=USER_ID)
    mobile = SelfDescribingJson(
        "iglu:com.snowplowanalytics.snowplow/mobile_context/jsonschema/1-0-3",
        {"osType": "ios", "osVersion": "17", "deviceManufacturer": "Apple", "deviceModel": "iPhone",
         "appleIdfa": AD_ID, "appleIdfv": DEVICE_ID, "androidIdfa": AD_ID},
    )  # fmt: skip
    session = SelfDescribingJson(
        "iglu:com.snowplowanalytics.snowplow/client_session/jsonschema/1-0-2",
        {"userId": ANONYMOUS_ID, "sessionId": SESSION_ID, "sessionIndex": 2, "storageMechanism": "SQLITE"},
    )
    custom = SelfDescribingJson("iglu:com.acme/customer/jsonschema/1-0-0", _hostile_fields())
    entities = [_user_entity(), mobile, session, custom]
    signup = SelfDescribingJson("iglu:com.acme/signup/jsonschema/1-0-0", _hostile_fields())
    link = SelfDescribingJson(
        "iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1",
        {"targetUrl": url, "elementId": "cta", "elementContent": text},
    )
    events = [
        PageView(page_url=url, page_title=text, referrer=url, context=list(entities)),
        SelfDescribing(event_json=signup, context=list(entities)),
        SelfDescribing(event_json=link, context=list(entities)),
    ]
    payloads += [("snowplow", r) for r in snowplow_post_records(events, subject=subject, encode_base64=True)]
    payloads += [("snowplow", r) for r in snowplow_post_records(events, subject=subject, encode_base64=False)]
    payloads += [("snowplow_get", r) for r in snowplow_get_records(events, subject=subject)]
    contexts = {
        "schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1",
        "data": [
            {"schema": "iglu:com.acme/customer/jsonschema/1-0-0", "data": _hostile_fields()},
            {
                "schema": "iglu:com.snowplowanalytics.snowplow/client_session/jsonschema/1-0-2",
                "data": {"userId": ANONYMOUS_ID, "sessionId": SESSION_ID, "sessionIndex": 2},
            },
        ],
    }
    line = enriched_line(
        {"user_id": USER_ID, "domain_userid": ANONYMOUS_ID, "domain_sessionid": SESSION_ID,
         "network_userid": DEVICE_ID, "user_ipaddress": IP, "geo_country": "GB", "geo_city": "London",
         "page_url": url, "page_urlpath": f"/users/{USER_ID}", "page_urlquery": f"email={quote(EMAIL)}",
         "page_title": text, "se_label": EMAIL, "mkt_term": FULL_NAME, "refr_urlpath": f"/{USER_ID}",
         "contexts": orjson.dumps(contexts).decode()},
        residency=None,
    )  # fmt: skip
    payloads.append(("snowplow_enriched_tsv", line.encode()))
    payloads.append(("snowplow_enriched_json", orjson.dumps(transform(line))))
    body = orjson.loads(
        ga4_body(
            client_id=ANONYMOUS_ID, user_id=USER_ID, ip_override=IP,
            user_properties={**{k: v for k, v in _hostile_fields().items() if isinstance(v, str)}},
            events=[ga4_event("page_view", page_location=url, page_title=text, page_referrer=url,
                              session_id=SESSION_ID, customer_email=EMAIL, search_term=FULL_NAME),
                    ga4_event(f"signup_{FIRST.lower()}", method=text,
                              items=[{"item_id": USER_ID, "x": EMAIL}])],
        )
    )  # fmt: skip
    body["user_data"] = {"sha256_email_address": [hashlib.sha256(EMAIL.lower().encode()).hexdigest()],
                         "address": [{"first_name": FIRST, "street": "1 Canary Row"}]}  # fmt: skip
    payloads.append(("ga4", orjson.dumps(body)))
    return payloads

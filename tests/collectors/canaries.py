"""Canary personal data in every collector format, and every form in which it would count as leaked.

Each payload carries the same canary person (an EU user: GB IP or GB country) in the
fields its format keeps personal data in, in free text and in URL query strings.
Real SDKs make the payloads where one exists. `leaked_forms` lists the canaries as
written, normalized, and hashed without a key (MD5, SHA-1, SHA-256, hex and upper
hex): a copy holding any of them outside the home region has leaked.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote

import orjson
from snowplow_analytics_sdk.event_transformer import transform
from snowplow_tracker import PageView, SelfDescribingJson

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
from tests.unit.test_snowplow_enriched import enriched_line

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

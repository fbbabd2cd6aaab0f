"""What a Segment-spec event (Segment, RudderStack, Jitsu) may keep when it leaves its region.

Fields of the Segment spec (Common Fields, Context, Page/Screen and the E-commerce v2
events) that carry no personal data, and the ids and facts that leave transformed.
Traits, custom properties, headers and everything else not named here are dropped;
a destination's `keep` adds what it needs.
"""

from __future__ import annotations

from streams.formats.allowlist import (
    ANONYMOUS_ID,
    COUNTRY,
    EVENT_ID,
    GEO,
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
    merged,
    obj,
)

# Campaign: name, source and medium say which campaign brought a visit. Left out: `term` (a
# search term someone typed) and `content` (ad variants, often a tracking token).
_CAMPAIGN: dict[str, Spec] = {"name": KEEP, "source": KEEP, "medium": KEEP}

# E-commerce v2 product fields. `name` is the product's name here. Coupon codes are left out:
# single-use and referral codes point at one person.
_PRODUCT: dict[str, Spec] = {
    "product_id": KEEP, "sku": KEEP, "category": KEEP, "name": KEEP, "brand": KEEP, "variant": KEEP,
    "price": KEEP, "quantity": KEEP, "position": KEEP, "url": URL, "image_url": URL,
    "currency": KEEP, "value": KEEP,
}  # fmt: skip

_PROPERTIES: dict[str, Spec] = {
    # Page and screen calls: where the visitor was. `title` and `search` (the query string) are
    # free text and visitor input; `url` and `path` leave without query or fragment.
    "name": KEEP, "category": KEEP, "path": PATH, "url": URL, "referrer": REFERRER,
    # E-commerce v2: orders, carts, checkouts, promotions. Order, checkout and cart ids lead to
    # one customer's record at home, so they leave pseudonymized (still one value per order, for
    # deduplication). `query` (a search) and free text (share messages, review bodies,
    # recipients) are left out.
    **_PRODUCT,
    "order_id": ANONYMOUS_ID, "checkout_id": ANONYMOUS_ID, "cart_id": ANONYMOUS_ID,
    "affiliation": KEEP, "total": KEEP,
    "subtotal": KEEP, "revenue": KEEP, "shipping": KEEP, "tax": KEEP, "discount": KEEP,
    "list_id": KEEP, "promotion_id": KEEP, "creative": KEEP, "step": KEEP, "shipping_method": KEEP,
    "payment_method": KEEP, "rating": KEEP, "review_id": KEEP, "wishlist_id": KEEP,
    "products": each(_PRODUCT),
}  # fmt: skip

_CONTEXT: dict[str, Spec] = {
    "active": KEEP,
    "app": {"name": KEEP, "version": KEEP, "build": KEEP, "namespace": KEEP},
    "campaign": _CAMPAIGN,
    # `name` is what its owner called the device ("Jane's iPhone"); `token` is its push token.
    "device": {
        "id": ANONYMOUS_ID,
        "advertisingId": ANONYMOUS_ID,
        "adTrackingEnabled": KEEP,
        "manufacturer": KEEP,
        "model": KEEP,
        "type": KEEP,
    },
    "ip": IP,
    "library": {"name": KEEP, "version": KEEP},
    "locale": KEEP,
    # A device's position: its country stays; the finer parts are geo, which generalize drops.
    "location": {"country": COUNTRY, "city": GEO, "region": GEO, "latitude": GEO, "longitude": GEO},
    "network": {"bluetooth": KEEP, "carrier": KEEP, "cellular": KEEP, "wifi": KEEP},
    "os": {"name": KEEP, "version": KEEP},
    "page": {"path": PATH, "referrer": REFERRER, "url": URL},  # title, search: as in properties
    "referrer": {"type": KEEP},  # `id`: a click or link id that points at a person's visit
    "screen": {"width": KEEP, "height": KEEP, "density": KEEP, "innerWidth": KEEP, "innerHeight": KEEP},
    "groupId": USER_ID,
    "timezone": KEEP,
    "userAgent": USER_AGENT,
    "userAgentData": {"brands": each({"brand": KEEP, "version": KEEP}), "mobile": KEEP, "platform": KEEP},
    # Consent categories are flags, and downstream tools gate on them too.
    "consent": {"categoryPreferences": obj({}, any_key=KEEP)},
    # Jitsu's own geolocation: its country and continent stay, the rest is geo or the ISP.
    "geo": {
        "continent": {"code": COUNTRY},
        "country": {"code": COUNTRY, "name": COUNTRY, "isEU": KEEP},
        "region": {"code": GEO},
        "city": {"name": GEO},
        "postalCode": {"code": GEO},
        "location": {"latitude": GEO, "longitude": GEO},  # and its time zone, which names a city
    },
}

_SEGMENT: dict[str, Spec] = {
    "type": KEEP, "event": KEEP, "name": KEEP, "category": KEEP,
    "userId": USER_ID, "anonymousId": ANONYMOUS_ID, "previousId": USER_ID, "groupId": USER_ID,
    "messageId": EVENT_ID, "channel": KEEP, "version": KEEP,
    "timestamp": TIMESTAMP, "originalTimestamp": TIMESTAMP, "sentAt": TIMESTAMP, "receivedAt": TIMESTAMP,
    # Which downstream tools a call is for: flags per tool name; settings objects are left out.
    "integrations": obj({}, any_key=KEEP),
    "context": _CONTEXT,
    "properties": _PROPERTIES,
    # Jitsu's ingest adds the address it saw the call from.
    "requestIp": IP,
}  # fmt: skip
# Left out on purpose: traits and context.traits (a person's profile), context.headers (cookies,
# authorization), context.device.name and .token, writeKey (a secret), _metadata, custom keys.

SEGMENT_ALLOWED: Obj = obj(_SEGMENT)

# RudderStack's server adds its own id for the device and the address it was called from; its
# SDKs add a session and the consent ids. `context.externalId` (ids in other tools) is left out.
RUDDERSTACK_ALLOWED: Obj = obj(
    merged(
        _SEGMENT,
        {
            "rudderId": ANONYMOUS_ID,
            "request_ip": IP,
            "context": {
                "sessionId": ANONYMOUS_ID,
                "sessionStart": KEEP,
                "consentManagement": {
                    "allowedConsentIds": each(KEEP),
                    "deniedConsentIds": each(KEEP),
                    "provider": KEEP,
                    "resolutionStrategy": KEEP,
                },
            },
        },
    )
)

"""What a GA4 Measurement Protocol body may keep when it leaves its region.

The body's documented fields, and each event's name, time and the parameters of
Google's automatically collected and recommended events. `user_properties`,
`user_data` (hashed emails, phones, addresses) and custom event parameters are
dropped; a destination's `keep` adds what it needs.
"""

from __future__ import annotations

from streams.formats.allowlist import (
    ANONYMOUS_ID,
    COUNTRY,
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
    obj,
)

_ITEM: dict[str, Spec] = {
    name: KEEP
    for name in (
        "item_id", "item_name", "affiliation", "discount", "index", "item_brand", "item_category",
        "item_category2", "item_category3", "item_category4", "item_category5", "item_list_id",
        "item_list_name", "item_variant", "location_id", "price", "quantity", "promotion_id",
        "promotion_name", "creative_name", "creative_slot",
    )
}  # fmt: skip

_PARAMS: dict[str, Spec] = {
    # Page and screen: where the user was, without query or fragment; the referrer's host only.
    # page_title is free text and is left out.
    "page_location": URL, "page_referrer": REFERRER, "page_path": PATH,
    "screen_name": KEEP, "screen_class": KEEP, "firebase_screen": KEEP, "firebase_screen_class": KEEP,
    # Sessions: GA4's session id is a per-user value, so it leaves pseudonymized.
    "session_id": ANONYMOUS_ID, "session_number": KEEP, "engagement_time_msec": KEEP,
    "debug_mode": KEEP, "language": KEEP, "screen_resolution": KEEP,
    # Recommended events (e-commerce, games, sign-up/login method, sharing's content type).
    # search_term and the campaign's term and content are free text or tokens and are left out.
    # The transaction id leads to one customer's order at home: pseudonymized. Coupon codes can be
    # single-use or referral codes: left out.
    "currency": KEEP, "value": KEEP, "transaction_id": ANONYMOUS_ID, "shipping": KEEP,
    "tax": KEEP, "affiliation": KEEP, "payment_type": KEEP, "shipping_tier": KEEP,
    "item_list_id": KEEP, "item_list_name": KEEP, "promotion_id": KEEP, "promotion_name": KEEP,
    "creative_name": KEEP, "creative_slot": KEEP, "location_id": KEEP, "method": KEEP,
    "content_type": KEEP, "item_id": KEEP, "achievement_id": KEEP, "character": KEEP, "level": KEEP,
    "level_name": KEEP, "score": KEEP, "success": KEEP, "virtual_currency_name": KEEP,
    "campaign_id": KEEP, "campaign": KEEP, "source": KEEP, "medium": KEEP,
    "items": each(_ITEM),
}  # fmt: skip

GA4_ALLOWED: Obj = obj(
    {
        "client_id": ANONYMOUS_ID,
        "app_instance_id": ANONYMOUS_ID,
        "user_id": USER_ID,
        "timestamp_micros": TIMESTAMP,
        "user_location": {
            "country_id": COUNTRY,
            "continent_id": COUNTRY,
            "subcontinent_id": COUNTRY,
            "region_id": GEO,
            "city": GEO,
        },
        "ip_override": IP,
        "device": {
            name: KEEP
            for name in (
                "category",
                "language",
                "screen_resolution",
                "operating_system",
                "operating_system_version",
                "model",
                "brand",
                "browser",
                "browser_version",
            )
        },
        "user_agent": USER_AGENT,
        "consent": {"ad_user_data": KEEP, "ad_personalization": KEEP},
        "non_personalized_ads": KEEP,
        "validation_behavior": KEEP,
        # Each event's own time is an event time like the body's: it leaves cut to the hour.
        "events": each({"name": KEEP, "timestamp_micros": TIMESTAMP, "params": _PARAMS}),
    }
)

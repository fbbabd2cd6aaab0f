"""Phone numbers in one form, E.164, through Google's libphonenumber rules (the `phonenumbers` port).

One normalization for every place a phone number is read: a field the format says
holds a phone, and a number found in free text. So `+44 20 7946 0958`, `020 7946 0958`
read in the UK, and `00442079460958` are one number, and one person gets one pseudonym.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

# Regions whose national numbers the value scan tries when the event's own region gives none.
# A number is only ever counted when libphonenumber says it is valid there.
FALLBACK_REGIONS = ("US", "GB", "FR", "IN", "ES", "NL", "BR", "IT", "DE")


def is_region(code: str) -> bool:
    """Whether libphonenumber knows national numbering for this ISO 3166-1 country."""
    return code in phonenumbers.SUPPORTED_REGIONS


@lru_cache(maxsize=16_384)  # a parse and validation costs ~50-100 µs; a person's number recurs
def e164(text: str, region: str | None = None) -> str | None:
    """`text` as E.164 (`+442079460958`) if it is a valid number, else None.

    `region` is the country whose national format applies when the text carries no
    country code (`+` or `00`); None accepts only numbers written with one.
    """
    if len(text) > 64:  # a phone number as people write it is far shorter; don't hand libphonenumber a page
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

"""How one region's copies transform each kind of personal value under one set of field rules.

Used by every copy (streams/transform/export.py): an id pseudonymized or tokenized, an IP, a
time or a user agent generalized, a value dropped, and what a value the value scan
finds is replaced with.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from streams.config import FieldRules
from streams.keys.ring import KeyRing, PseudonymKey
from streams.subjects.erasure import normalize_identifier
from streams.subjects.store import SubjectKeys
from streams.subjects.tokens import token
from streams.transform.generalize import DROP, country_only, hour_of, ip_prefix, user_agent_family
from streams.transform.pseudonymize import (
    Pseudonymizer,
    normalize_email,
    normalize_phone,
)

REDACTED = "redacted"  # what a value found in text becomes when the rules drop it
# Inside a geo object, what "generalize to the country" keeps.
COUNTRY_KEYS = frozenset(
    {"country", "country_id", "countryCode", "country_code", "continent", "continent_id", "subcontinent_id"}
)
RULE_KINDS = ("user_id", "anonymous_id", "email", "phone", "name", "ip", "geo", "user_agent", "timestamp")
_KEYED = frozenset({"pseudonymize", "tokenize"})
# Kinds the value scan finds that have no field rule of their own: replaced as found_in_text says.
_SCAN_KINDS = frozenset({"email", "phone", "ip", "card", "digest", "encoded"})
_KEY_RECHECK_SECONDS = 1.0


class PersonalTransforms:
    """One region's field rules, bound to its key; built once, shared by every event of the region."""

    def __init__(
        self,
        rules: FieldRules,
        region: str,
        keys: KeyRing,
        subjects: SubjectKeys,
        *,
        tokenize_as_pseudonymize: bool = False,
    ) -> None:
        self.rules = rules
        self.region = region
        self.keys = keys
        self._subjects = subjects
        # An erased subject's events are fully pseudonymized: no new per-subject key is made for them.
        self._tokenizes = not tokenize_as_pseudonymize
        self._by_kind = {kind: self._effective(getattr(rules, kind)) for kind in RULE_KINDS}
        transforms = [*self._by_kind.values(), rules.found_in_text]
        transforms += [t for paths in rules.paths.values() for t in paths.values()]
        self.uses_key = any(t in _KEYED for t in transforms)
        self.needs_subject = self._tokenizes and "tokenize" in transforms
        self._key: PseudonymKey | None = None
        self._key_checked_at = -1.0  # monotonic time the current key was last asked of the ring
        self._pseudonymizer: Pseudonymizer | None = None

    def _effective(self, transform: str) -> str:
        return "pseudonymize" if transform == "tokenize" and not self._tokenizes else transform

    @property
    def by_kind(self) -> dict[str, str]:
        """Kind → the transform the rules give it (tokenize already read as pseudonymize where it must be)."""
        return self._by_kind

    def transform_of(self, kind: str) -> str:
        """The transform the rules give a kind of personal field."""
        return self._by_kind[kind]

    def begin(self) -> int | None:
        """Make sure the region's key is at hand for a copy; its version, or None if no key is used.

        Raises KeyUnavailable: no key means hold the event, never send it in the clear.
        """
        if not self.uses_key:
            return None
        return self._current_key().version

    def set_keys(self, keys: KeyRing) -> None:
        self.keys = keys
        self._key, self._key_checked_at = None, -1.0

    def apply(self, kind: str, transform: str, value: Any, subject: str | None, country: str | None) -> Any:
        """`value` under `transform` for its kind: the new value, or DROP. Never the value unchanged
        unless the transform is keep."""
        if value is None or transform == "keep":
            return value
        if transform == "drop":
            return DROP
        if transform == "generalize":
            return _GENERALIZERS.get(kind, _dropped)(value)
        if transform == "pseudonymize":
            if value.__class__ is str:  # the common case, without a closure
                return self.pseudonym(value, kind, country)
            return _each_scalar(value, lambda v: self.pseudonym(v, kind, country))
        if transform == "tokenize":
            if not self._tokenizes:
                return _each_scalar(value, lambda v: self.pseudonym(v, kind, country))
            return _each_scalar(value, lambda v: self._token(v, kind, subject, country))
        return DROP  # a transform this code doesn't know never passes a value through

    def pseudonym(self, value: Any, kind: str, country: str | None = None) -> str:
        pseudonymizer = self._pseudonymizer
        if pseudonymizer is None:
            self._current_key()
            pseudonymizer = self._pseudonymizer
            assert pseudonymizer is not None
        return pseudonymizer.of(value, kind, country)

    def replace_found(self, kind: str, value: str, country: str | None) -> str:
        """What a value the scan found becomes: its pseudonym (an IP: its prefix), or REDACTED."""
        # A kind the scan finds by value, as found_in_text says; one of this event's own values
        # (user_id, name...) as its field's rule says.
        transform = self.rules.found_in_text if kind in _SCAN_KINDS else self._by_kind.get(kind, "drop")
        if transform == "keep":
            return value
        if transform == "drop":
            return REDACTED
        if kind == "ip":  # an address found anywhere leaves as its network, never whole
            truncated = ip_prefix(value)
            return REDACTED if truncated is DROP else str(truncated)
        if transform in _KEYED:
            return self.pseudonym(value, kind, country)
        return REDACTED  # generalize of a name or an id: nothing coarser to keep

    def _current_key(self) -> PseudonymKey:
        # Asking the ring checks retire dates against the clock; once a second is often enough.
        now = time.monotonic()
        key = self._key
        if key is None or now - self._key_checked_at > _KEY_RECHECK_SECONDS:
            key = self.keys.for_region(self.region)  # KeyUnavailable propagates: hold, never send clear
            if key is not self._key:
                self._key, self._pseudonymizer = key, Pseudonymizer(key)
            self._key_checked_at = now
        return key

    def _token(self, value: Any, kind: str, subject: str | None, country: str | None) -> str:
        if kind == "email":
            normalized = normalize_email(value)
        elif kind == "phone":
            normalized = normalize_phone(value, country)
        else:
            normalized = normalize_identifier(value)
        subject_key = self._subjects.key_for(self.region, subject or normalized, self.keys)
        if subject_key is None:  # erased while this event was on its way: never reversible again
            return self.pseudonym(value, kind, country)
        return token(normalized, subject_key, self.region)


def _each_scalar(value: Any, change: Callable[[Any], str]) -> Any:
    # A field may hold a list (GA4's hashed emails) or an object (GA4 user properties' {"value": ...}).
    if isinstance(value, bool):
        return value
    if isinstance(value, str | int | float):
        return change(value)
    if isinstance(value, list):
        return [_each_scalar(item, change) for item in value]
    if isinstance(value, dict):
        return {key: _each_scalar(item, change) for key, item in value.items()}
    return DROP


def _dropped(value: Any) -> Any:
    return DROP


def _geo(value: Any) -> Any:
    # A geo object keeps its country; a finer field on its own (a city, a latitude) goes.
    return country_only(value, COUNTRY_KEYS) if isinstance(value, dict) else DROP


_GENERALIZERS: dict[str, Callable[[Any], Any]] = {
    "ip": ip_prefix,
    "timestamp": hour_of,
    "user_agent": user_agent_family,
    "geo": _geo,
}

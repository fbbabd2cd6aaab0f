"""This event's own identifying values, and what a key's name says about the value under it.

An exported copy replaces the event's own identifiers (user id, anonymous id, email,
phone, device and ad ids, IP, the person's name) wherever they recur in what it
keeps: `/users/<id>/profile`, `?ajs_uid=<id>`, a slug made of the name. The gateway
knows these values, so it needs no guessing: the copy (streams/transform/export.py) gathers
them as it goes, from the id fields it transforms and, in everything it drops, from
any key whose name says it holds one (`customer_email`, `deviceId`) and, inside trait
containers (Segment traits, GA4 user properties, custom Snowplow entities), from keys
such as `name` and `id` too.
"""

from __future__ import annotations

import re
from typing import Any

from streams.formats.allowlist import Treat
from streams.formats.base import EACH, CollectorFormat, get_path
from streams.subjects.erasure import normalize_subject

# The kinds of own value, as the value scan and the field rules name them.
OwnValue = tuple[str, str]

_NOT_ALNUM = re.compile(r"[^a-z0-9]")
_ADDRESS_NOT_A_PLACE = ("ipaddress", "macaddress", "emailaddress", "walletaddress", "remoteaddress")
_NAME_OWNERS = (
    "customer", "contact", "billing", "shipping", "recipient", "cardholder", "holder", "person", "user",
    "member", "owner", "patient", "employee", "guest", "buyer", "sender", "receiver", "legal", "account",
    "full", "first", "last", "given", "family", "middle", "display", "nick", "maiden", "sur", "real",
)  # fmt: skip
_USER_IDS = frozenset(
    {"uid", "externalid", "customerid", "memberid", "profileid", "accountid", "personid", "previousid",
     "loginid", "subscriberid", "contactid", "crmid", "patientid", "employeeid"}
)  # fmt: skip
_ANONYMOUS_ID_ENDINGS = (
    "anonymousid", "deviceid", "advertisingid", "adid", "idfa", "idfv", "androidid", "gaid", "clientid",
    "visitorid", "cookieid", "sessionid", "instanceid", "fingerprint", "rudderid", "pushtoken",
    "devicetoken", "fcmtoken", "apnstoken", "registrationid", "networkuserid", "domainuserid",
    "appsetid", "openidfa", "installationid", "browserid", "trackingid",
)  # fmt: skip
_ANONYMOUS_IDS = frozenset({"duid", "nuid", "tnuid", "sid", "fp", "aid_user", "ajsuid", "ajsaid"})
_IPS = frozenset(
    {"ip", "ipaddress", "clientip", "requestip", "userip", "remoteip", "remoteaddr", "ipv4", "ipv6",
     "xforwardedfor", "forwardedfor", "ipoverride", "useripaddress", "sourceip", "realip", "trueclientip"}
)  # fmt: skip
_GEO = frozenset(
    {"latitude", "longitude", "lat", "lon", "lng", "long", "altitude", "city", "zip", "zipcode", "postalcode",
     "postcode", "geohash", "coordinates", "coords", "position", "location"}
)  # fmt: skip
# Keys that name a person's details only inside a trait container: `name` is a product's name in
# Segment properties but the person's in traits; `id` is anything's id, but the person's in traits.
_WEAK_NAMES = frozenset({"name", "first", "last", "given", "family", "initials"})
_WEAK_IDS = frozenset({"id", "userid"})
_CACHE_LIMIT = 8192
_kind_by_key: dict[str, Treat | None] = {}


def kind_of_key(key: str) -> Treat | None:
    """The kind of personal value a key's name says it holds, wherever it sits; None if it names none."""
    try:
        return _kind_by_key[key]
    except KeyError:
        pass
    kind = _classify(_NOT_ALNUM.sub("", key.lower()))
    if len(_kind_by_key) >= _CACHE_LIMIT:
        _kind_by_key.clear()  # attacker-chosen keys; correctness never depends on the cache
    _kind_by_key[key] = kind
    return kind


def _classify(key: str) -> Treat | None:
    if not key:
        return None
    if "email" in key or key in {"mail", "emailaddress"}:
        return Treat.EMAIL
    if "phone" in key or "mobile" in key or key in {"tel", "telephone", "msisdn", "fax", "cell", "cellular"}:
        return Treat.PHONE
    if key in _IPS:
        return Treat.IP
    if key in _GEO:
        return Treat.GEO
    if ("address" in key and not key.endswith(_ADDRESS_NOT_A_PLACE)) or key.startswith(("street", "house")):
        return Treat.NAME  # a street address: dropped with names unless the rules say otherwise
    if "birth" in key or key in {"dob", "birthday", "birthdate", "age"}:
        return Treat.NAME
    if key.endswith("name") and (key.startswith(_NAME_OWNERS) or key in {"surname", "username", "nickname"}):
        return Treat.NAME
    if key in _USER_IDS or key.endswith("userid"):
        return Treat.USER_ID
    if key in _ANONYMOUS_IDS or key.endswith(_ANONYMOUS_ID_ENDINGS):
        return Treat.ANONYMOUS_ID
    return None


def kind_of_trait(key: str) -> Treat | None:
    """Like `kind_of_key`, inside a trait container, where `name` and `id` are the person's."""
    kind = kind_of_key(key)
    if kind is not None:
        return kind
    plain = _NOT_ALNUM.sub("", key.lower())
    if plain in _WEAK_NAMES:
        return Treat.NAME
    if plain in _WEAK_IDS:
        return Treat.USER_ID
    return None


def kept_key_kind(key: str) -> Treat:
    """What a key a destination keeps becomes: its personal kind if its name says so, else kept."""
    return kind_of_key(key) or Treat.KEEP


# Own values of these kinds are searched for in what a copy keeps; geo values aren't identifiers.
_OWN_KINDS = {
    Treat.USER_ID: "user_id",
    Treat.ANONYMOUS_ID: "anonymous_id",
    Treat.EMAIL: "email",
    Treat.PHONE: "phone",
    Treat.IP: "ip",
    Treat.NAME: "name",
}
_MIN_OWN_LENGTH = 3  # shorter values would match inside ordinary words and numbers
# Past this many, the copy holds no scanned string at all (streams/transform/export.py MAX_OWN_VALUES): one
# more than it is enough to know.
_MAX_OWN_GATHERED = 257


_MAX_DEPTH = 64  # decoded events are bounded by the writer's depth; this bounds the walk regardless
_DESCEND = ""  # a key that names nothing personal: its value is looked into
_own_by_key: dict[str, str | None] = {}


def _own_kind_of_key(key: str) -> str | None:
    """The own kind a key's name says its value is; _DESCEND if it names nothing; None if not an own kind."""
    try:
        return _own_by_key[key]
    except KeyError:
        pass
    kind = kind_of_key(key)
    own = _DESCEND if kind is None else _OWN_KINDS.get(kind)
    if len(_own_by_key) >= _CACHE_LIMIT:
        _own_by_key.clear()
    _own_by_key[key] = own
    return own


def collect_strong(key: str, value: Any, found: dict[str, OwnValue]) -> None:
    """Own values in a key's value: the value itself if the key's name says it is one, else inside it."""
    own = _own_kind_of_key(key)
    if own is _DESCEND:
        if value.__class__ is dict or value.__class__ is list:
            _strong(value, found, 0)
    elif own is not None:
        _add(found, own, value)


def collect_traits(value: Any, found: dict[str, OwnValue]) -> None:
    """Own values in a trait container (or an entity), where `name` and `id` are the person's too."""
    _traits(value, found, 0)


def add_own(found: dict[str, OwnValue], kind: str, value: Any) -> None:
    """An id field's value (or values) as this event's own value of `kind`."""
    _add(found, kind, value)


def _strong(node: Any, found: dict[str, OwnValue], depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    if node.__class__ is dict:
        for key, value in node.items():
            cls = value.__class__
            if cls is dict or cls is list:
                own = _own_kind_of_key(key)
                if own is _DESCEND:
                    _strong(value, found, depth + 1)
                elif own is not None:
                    _add(found, own, value)
            elif cls is str or cls is int:
                own = _own_by_key.get(key, _MISSING)
                if own is _MISSING:
                    own = _own_kind_of_key(key)
                if own:
                    _add(found, own, value)
    elif node.__class__ is list:
        for item in node:
            if item.__class__ is dict or item.__class__ is list:
                _strong(item, found, depth + 1)


_MISSING: Any = object()


def _traits(node: Any, found: dict[str, OwnValue], depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    if node.__class__ is dict and _SNOWPLOWS_OWN(node):
        return  # Snowplow's own entities are described field by field (streams/allowlists/snowplow.py)
    if node.__class__ is dict:
        for key, value in node.items():
            kind = kind_of_trait(key)
            if kind is not None and (own := _OWN_KINDS.get(kind)) is not None:
                _add(found, own, value)
            else:
                _traits(value, found, depth + 1)
    elif node.__class__ is list:
        for item in node:
            _traits(item, found, depth + 1)


def _SNOWPLOWS_OWN(entity: dict[str, Any]) -> bool:
    schema = entity.get("schema")
    return isinstance(schema, str) and schema.startswith(_SNOWPLOW_SCHEMAS) and "data" in entity


_SNOWPLOW_SCHEMAS = ("iglu:com.snowplowanalytics.", "iglu:org.w3/", "iglu:com.iab.snowplow/")


def _add(found: dict[str, OwnValue], kind: str, value: Any, depth: int = 0) -> None:
    if value.__class__ is list or value.__class__ is dict:
        # A list of values, or a wrapper such as a GA4 user property's {"value": ...}: each value.
        if depth < 2:
            for item in value.values() if value.__class__ is dict else value:
                _add(found, kind, item, depth + 1)
        return
    if isinstance(value, bool) or not isinstance(value, str | int):
        return
    text = value.strip() if isinstance(value, str) else str(value)
    if len(text) >= _MIN_OWN_LENGTH and len(found) <= _MAX_OWN_GATHERED:
        found.setdefault(text.lower(), (kind, text))


def own_ids(event: dict[str, Any], collector: CollectorFormat) -> tuple[OwnValue, ...]:
    """The event's ids and names from its id fields and trait containers, read without a copy's walk.

    For what isn't a copy (the audit record's event id), where a walk of the whole event would
    cost more than the check it serves.
    """
    found: dict[str, OwnValue] = {}
    personal = collector.personal
    for kind in ("user_id", "anonymous_id", "email", "phone"):
        for path in getattr(personal, kind):
            for value in _values_at(event, path):
                _add(found, kind, value)
    for path in personal.trait_containers:
        for container in _values_at(event, path):
            _traits(container, found, 0)
    return tuple(found.values())


def _values_at(document: Any, path: tuple[str | int, ...]) -> list[Any]:
    """Every value at `path`; EACH stands for every element of a list, "x*" for every key starting "x"."""
    nodes = [document]
    for key in path:
        following: list[Any] = []
        for at in nodes:
            if key == EACH:
                if at.__class__ is list:
                    following.extend(item for item in at if item is not None)
            elif at.__class__ is dict:
                if isinstance(key, str) and len(key) > 1 and key.endswith("*"):
                    prefix = key[:-1]
                    following.extend(v for k, v in at.items() if k.startswith(prefix) and v is not None)
                else:
                    value = at.get(key)
                    if value is not None:
                        following.append(value)
        nodes = following
        if not nodes:
            break
    return nodes


def subject_of(event: dict[str, Any], collector: CollectorFormat) -> str | None:
    """Who the event is about, as erasure requests name them: its user id, else its anonymous id."""
    personal = collector.personal
    for path in (*personal.user_id, *personal.anonymous_id):
        value = get_path(event, path)
        if isinstance(value, str | int) and not isinstance(value, bool):
            subject = normalize_subject(value)
            if subject:
                return subject
    return None

"""This event's own identifying values, and what a key's name says about the value under it.

An exported copy replaces the event's own identifiers (user id, anonymous id, email,
phone, device and ad ids, IP, the person's name) wherever they recur in what it
keeps: `/users/<id>/profile`, `?ajs_uid=<id>`, a slug made of the name. The gateway
knows these values, so it needs no guessing: they are read from the fields the
format names, from any key whose name says it holds one (`customer_email`,
`deviceId`), and, inside trait containers (Segment traits, GA4 user properties,
Snowplow entities), from keys such as `name` and `id` too.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from streams.allowlist import Treat
from streams.erasure import normalize_subject
from streams.formats.base import EACH, CollectorFormat, Path, PersonalFields, get_path

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


def own_values(event: dict[str, Any], personal: PersonalFields) -> list[OwnValue]:
    """The event's identifying values, each once, with its kind: what a copy must not carry anywhere."""
    found: dict[str, OwnValue] = {}
    simple, nested, containers = _plan(personal)
    for own_kind, first, second in simple:  # most id fields sit one or two keys deep
        value = event.get(first)
        if second is not None and value.__class__ is dict:
            value = value.get(second)
        elif second is not None:
            continue
        if value is not None:
            _add(found, own_kind, value)
    for own_kind, path in nested:
        for value in _values_at(event, path):
            _add(found, own_kind, value)
    _strong(event, found, 0)
    for path in containers:
        for container in _values_at(event, path):
            _traits(container, found, 0)
    return list(found.values())


@lru_cache(maxsize=64)
def _plan(
    personal: PersonalFields,
) -> tuple[tuple[tuple[str, str, str | None], ...], tuple[tuple[str, Path], ...], tuple[Path, ...]]:
    """A format's id fields by own kind, split into the plain one- or two-key paths and the rest."""
    simple: list[tuple[str, str, str | None]] = []
    nested: list[tuple[str, Path]] = []
    for kind, paths in personal.by_kind().items():
        own_kind = _OWN_KINDS.get(Treat(kind))
        if own_kind is None:
            continue
        for path in paths:
            if 1 <= len(path) <= 2 and all(isinstance(key, str) and key != EACH for key in path):
                simple.append((own_kind, str(path[0]), str(path[1]) if len(path) == 2 else None))
            else:
                nested.append((own_kind, path))
    return tuple(simple), tuple(nested), personal.trait_containers


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
                    _add(found, own, value)  # type: ignore[arg-type]
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


def _SNOWPLOWS_OWN(entity: dict[str, Any]) -> bool:  # noqa: N802 - reads as the predicate it is
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
    if len(text) >= _MIN_OWN_LENGTH:
        found.setdefault(text.lower(), (kind, text))


def _values_at(document: Any, path: Path) -> list[Any]:
    """Every value at `path`, where EACH stands for every element of a list."""
    nodes = [document]
    for key in path:
        following: list[Any] = []
        for at in nodes:
            if key == EACH:
                if isinstance(at, list):
                    following.extend(item for item in at if item is not None)
            elif isinstance(key, str) and len(key) > 1 and key.endswith("*"):  # every key with this prefix
                if isinstance(at, dict):
                    prefix = key[:-1]
                    own = prefix + "com_snowplowanalytics_"  # Snowplow's own, described field by field
                    following.extend(
                        v for k, v in at.items() if k.startswith(prefix) and not k.startswith(own) and v is not None
                    )
            elif isinstance(at, dict):
                value = at.get(key)  # type: ignore[call-overload]
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

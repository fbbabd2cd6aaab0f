"""An exported copy: what leaves a region holds only what the destination's allowlist names (default-deny).

The copy is built, not scrubbed: a walk over the event keeps each field its allowlist
names, in the form the allowlist says (streams/formats/allowlist.py), and drops the rest,
noting each dropped path for the audit. Every kept string passes the value scan
(streams/transform/value_scan.py), which also replaces this event's own identifying values
wherever they recur (streams/transform/identities.py). Anything the walk can't read as the
allowlist expects (an object where a scalar belongs, a value too large to scan) is
dropped, never passed on: a field nobody listed, in a casing or an encoding nobody
foresaw, can't cross a border.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from streams.audit import CopyReport, looks_generated
from streams.config import GatewayConfig
from streams.formats.allowlist import (
    Compiled,
    Described,
    Each,
    Entities,
    Leaf,
    Obj,
    Step,
    Subtree,
    Treat,
    with_keep_paths,
)
from streams.formats.base import EACH, CollectorFormat, PersonalFields
from streams.transform.generalize import DROP
from streams.transform.identities import (
    OwnValue,
    add_own,
    collect_strong,
    collect_traits,
    kept_key_kind,
    kind_of_trait,
)
from streams.transform.personal import PersonalTransforms
from streams.transform.value_scan import ScanBudget, ValueScanner

# Keep paths per format name; "*" holds the ones that apply to every format.
KeepPaths = Mapping[str, Sequence[tuple[str, tuple[Step, ...]]]]
MAX_DROPPED_LISTED = 64  # an audit record names this many dropped paths, then counts the rest
MAX_OWN_VALUES = 256  # identifiers one event may carry before its copy keeps no scanned string
_LABEL_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]{0,63}")
_IGLU = re.compile(r"iglu:([A-Za-z0-9_.-]+)/([A-Za-z0-9_-]+)/jsonschema/[0-9]+-[0-9]+-[0-9]+")
_LARGE_NUMBER = 10**6  # a number this large may be a phone or card number written as digits


class ExportCopier:
    """One destination's copies of one region's events; built once, shared by every event of the region."""

    def __init__(
        self,
        transforms: PersonalTransforms,
        keep: KeepPaths,
        scanner: ValueScanner,
        *,
        unknown_fields: str = "drop",
        path_rules: Mapping[Any, Mapping[str, str]] | None = None,
    ) -> None:
        self.transforms = transforms
        self._keep = keep
        # "scan": what the allowlist doesn't name is kept too, after the value scan (opt-in; can leak).
        self._keeps_unknown = unknown_fields == "scan"
        self._path_rules = path_rules or {}
        self._scanner = scanner
        self._allowlists: dict[str, Compiled] = {}
        self.needs_subject = transforms.needs_subject

    def allowlist(self, collector: CollectorFormat) -> Compiled:
        """The format's allowlist with this destination's keep paths, compiled once per format."""
        compiled = self._allowlists.get(collector.name)
        if compiled is None:
            paths = [*self._keep.get("*", ()), *self._keep.get(collector.name, ())]
            compiled = with_keep_paths(collector.allowed, paths, kept_key_kind)
            if self._keeps_unknown:
                _open(compiled.root)
            for text, transform in self._path_rules.get(collector.name, {}).items():
                _set_path_rule(compiled.root, text, transform)
            self._allowlists[collector.name] = compiled
        return compiled

    def apply(
        self,
        event: dict[str, Any],
        collector: CollectorFormat,
        envelope: dict[str, Any],
        subject: str | None,
        country: str | None = None,
        budget: ScanBudget | None = None,
    ) -> tuple[bytes, CopyReport]:
        """The copy's bytes, in the event's own format, and what was kept, transformed and dropped.

        `budget` is what the value scan may still spend; the pipeline shares one across a payload,
        so a batch can't multiply the work one event is allowed.
        """
        report = CopyReport()
        report.key_version = self.transforms.begin()
        root = self.allowlist(collector).root
        view = collector.expanded(event)
        copy = _Copy(self, report, subject, country, _traits_of(collector.personal), budget or ScanBudget())
        kept = copy.run(view, root)
        report.own = copy.own
        return collector.encode(collector.compacted(kept), envelope), report


class _Pending:
    """A kept string waiting for the value scan, which needs every own value of the event first."""

    __slots__ = ("label", "original", "text")

    def __init__(self, text: str, label: str, original: Any = None) -> None:
        self.text = text
        self.label = label
        self.original = text if original is None else original  # a large number scanned as text


class _Copy:
    """One event's copy in the making, in two passes.

    The walk builds the copy and gathers the event's own identifying values: from the id
    fields it transforms and from everything it drops (streams/transform/identities.py), so the event
    is read once. Then every kept string is scanned with all of them at hand.
    """

    __slots__ = (
        "budget", "clean", "compact", "copier", "country", "drops", "found", "keys", "own", "own_words",
        "pending", "pseudonym", "replace", "report", "schemas", "subject", "traits",
    )  # fmt: skip

    def __init__(
        self,
        copier: ExportCopier,
        report: CopyReport,
        subject: str | None,
        country: str | None,
        traits: _Traits,
        budget: ScanBudget,
    ) -> None:
        self.copier = copier
        self.report = report
        self.subject = subject
        self.country = country
        self.traits = traits
        self.found: dict[str, OwnValue] = {}
        self.own: tuple[OwnValue, ...] = ()
        # Kept strings to scan: (container, key or index, text, label, what the container holds).
        self.pending: list[tuple[Any, Any, str, str, Any]] = []
        self.keys: list[tuple[dict[str, Any], str, str]] = []  # wildcard-kept keys: (container, key, parent)
        # (label, None), or (parent label, a key from the event or an entity's _SchemaName)
        self.drops: list[tuple[str, str | None]] = []
        self.compact: list[list[Any]] = []  # lists a dropped pending leaves a hole in
        # Kept self-describing documents whose schema no allowlist names: (document, vendor/name, label).
        self.schemas: list[tuple[dict[str, Any], str, str]] = []
        self.own_words: frozenset[str] | None = None
        self.budget = budget
        self.clean = copier._scanner.clean
        transforms = copier.transforms
        self.pseudonym = transforms.pseudonym
        self.replace = lambda kind, value: transforms.replace_found(kind, value, country)

    def run(self, view: dict[str, Any], root: Obj) -> dict[str, Any]:
        kept = self.object(view, root)
        if len(self.found) > MAX_OWN_VALUES:
            # More identifiers than a copy can look for in bounded time (an event made to stall the
            # scan): nothing the scan would have to clear of them leaves. Fail closed.
            self._drop_pending()
            self._list_drops()
            return kept
        self.own = own = tuple(self.found.values())
        scanner = self.copier._scanner
        # Most kept strings are values seen before with nothing in them (event names, versions, page
        # paths): the scanner remembers them, and then only this event's own values are looked for.
        remembered = scanner.remembered_clean(self.country)
        needles = scanner.needles(own)
        budget = self.budget
        for container, key, text, label, original in self.pending:
            lowered = remembered.get(text)
            if (
                lowered is not None
                and not any(map(lowered.__contains__, needles))
                and budget.chars >= len(text)
            ):
                budget.chars -= len(text)
                if original is not text:
                    container[key] = original
                continue
            cleaned = self.scanned(text)
            if cleaned is DROP:
                self.drops.append((label, None))
                if container.__class__ is list:
                    container[key] = _HOLE
                    self.compact.append(container)
                else:
                    del container[key]
            else:
                container[key] = original if cleaned is text else cleaned
        for holed in self.compact:
            holed[:] = [item for item in holed if item is not _HOLE]
        for container, key, parent in self.keys:  # a wildcard-kept key that is one of the own values
            if self.clean(key, _refuse, own, self.budget, self.country)[0] is not key:
                container.pop(key, None)
                self.drops.append((parent, key))
        for document, name, label in self.schemas:
            if not self._name_safe(name):
                # A schema name that holds personal data (a name, a number) can't leave: the event
                # or entity leaves under a schema that says it was withheld, with none of its data.
                document.clear()
                document.update({"schema": WITHHELD_SCHEMA, "data": {}})
                self.drops.append((label, _SchemaName(name)))
        self._list_drops()
        return kept

    # -- the walk ------------------------------------------------------------------------------------

    def object(self, node: dict[str, Any], rule: Obj) -> dict[str, Any]:
        fields = rule.fields
        if rule.any_key is not None:
            return self._open_object(node, rule)
        out: dict[str, Any] = {}
        keys = [key for key in node if key in fields]  # most of an event is named, or not at all
        if len(keys) != len(node):
            self._dropped_keys(node, [key for key in node if key not in fields], rule.label)
        pending = self.pending
        drops = self.drops
        by_kind = self.copier.transforms.by_kind
        for key in keys:
            value = node[key]
            if value is None:
                out[key] = None
                continue
            child: Any = fields[key]  # Any: the class tests below narrow it, at no cost
            # The commonest cases inline: a kept string, an id to pseudonymize, a nested object.
            cls = child.__class__
            if cls is Leaf:
                if child.transform is None and value.__class__ is str:
                    if child.treat is _KEEP:
                        out[key] = value
                        pending.append((out, key, value, child.label, value))
                        continue
                    kind = child.kind
                    if kind is not None and by_kind[kind] == "pseudonymize":
                        if child.own is not None:
                            add_own(self.found, child.own, value)
                        out[key] = self.pseudonym(value, kind, self.country)
                        self.report.fields.append((child.label, "pseudonymize"))
                        continue
                new = self.leaf(value, child)
            elif cls is Obj:
                if value.__class__ is not dict:
                    drops.append((child.label, None))
                    continue
                new = self.object(value, child)
                if not new and value:
                    continue  # every field dropped, and listed: the object goes too
            else:
                new = self.value(value, child)
            if new is DROP:
                drops.append((child.label, None))
            elif new is not _EMPTIED:
                self.place(out, key, new)
        return out

    def _open_object(self, node: dict[str, Any], rule: Obj) -> dict[str, Any]:
        """An object with a rule for any key: a `*` keep path, or unknown fields kept (scan)."""
        fields = rule.fields
        any_key = rule.any_key
        assert any_key is not None
        out: dict[str, Any] = {}
        for key, value in node.items():
            child = fields.get(key)
            if child is None:
                if not self._safe_key(key):
                    if value is not None:
                        self._dropped_keys(node, [key], rule.label)
                    continue
                self.keys.append((out, key, rule.label))
                if any_key.__class__ is Subtree:  # unnamed territory: the key's name says what it holds
                    new = self.member(key, value, rule.label, 0)
                    if new is DROP:
                        self.drops.append((rule.label, key))
                    else:
                        self.place(out, key, new)
                    continue
                child = any_key
            if value is None:
                out[key] = None
                continue
            new = self.value(value, child)
            if new is DROP:
                self.drops.append((child.label, None))
            elif new is not _EMPTIED:
                self.place(out, key, new)
        return out

    def place(self, container: Any, key: Any, new: Any) -> None:
        """Put a value in the copy; a string still to be scanned is noted for the second pass."""
        if new.__class__ is _Pending:
            container[key] = new.original
            self.pending.append((container, key, new.text, new.label, new.original))
        else:
            container[key] = new

    def value(self, value: Any, rule: Any) -> Any:
        kind = rule.__class__
        if kind is Leaf:
            return self.leaf(value, rule)
        if kind is Obj:
            if value.__class__ is not dict:
                return DROP
            kept = self.object(value, rule)
            # An object all of whose fields were dropped is left out too; its fields are listed.
            return kept if kept or not value else _EMPTIED
        if kind is Each:
            if value.__class__ is not list:
                return DROP
            item = rule.item
            items: list[Any] = []
            for element in value:
                new = self.value(element, item) if element is not None else None
                if new is DROP:
                    self.drops.append((item.label, None))
                elif new is not _EMPTIED:
                    items.append(None)
                    self.place(items, len(items) - 1, new)
            return items
        if kind is Entities:
            return self.entities(value, rule) if value.__class__ is list else DROP
        if kind is Described:
            return self.described(value, rule) if value.__class__ is dict else DROP
        return self.subtree(value, rule.label, 0)

    def leaf(self, value: Any, rule: Leaf) -> Any:
        treat = rule.treat
        if rule.transform is not None:  # a path the field rules name: their transform wins
            if rule.transform == "keep":
                return self.kept(value, rule.label)
            return self._personal("path", rule.transform, value, rule.label)
        if treat is Treat.KEEP:
            return self.kept(value, rule.label)
        if treat is Treat.EVENT_ID:
            if value.__class__ is not str or looks_generated(value):
                return self.kept(value, rule.label)
            # Not an id a collector made: whatever the app put there (a handle, a name) may be
            # the person's, so it leaves as its pseudonym and is looked for in the rest of the copy.
            add_own(self.found, "anonymous_id", value)
            self.report.fields.append((rule.label, "pseudonymize"))
            return self.pseudonym(value, "event_id", self.country)
        kind = rule.kind
        if kind is not None:
            own = rule.own
            if own is not None:
                add_own(self.found, own, value)
            transform = self.copier.transforms.transform_of(kind)
            if transform == "keep":
                return self.kept(value, rule.label)
            return self._personal(kind, transform, value, rule.label)
        if value.__class__ is not str:
            return DROP
        if treat is Treat.URL or treat is Treat.PATH:
            return _Pending(_without_query(value), rule.label)
        if treat is Treat.REFERRER:
            origin = _origin(value)
            return DROP if origin is None else _Pending(origin, rule.label)
        # COUNTRY: kept unless the rules drop geo altogether.
        return DROP if self.copier.transforms.transform_of("geo") == "drop" else _Pending(value, rule.label)

    def _personal(self, kind: str, transform: str, value: Any, label: str) -> Any:
        if value.__class__ is dict:
            return DROP  # an id can't be an object; its keys could be anything
        if value.__class__ is list:
            value = [item for item in value if item.__class__ is not dict and item.__class__ is not list]
        new = self.copier.transforms.apply(kind, transform, value, self.subject, self.country)
        if new is not DROP:  # what a rule removes is listed with the rest of what was dropped
            self.report.fields.append((label, transform))
        return new

    def kept(self, value: Any, label: str) -> Any:
        """A scalar kept as it is, once the value scan has seen it; DROP for anything else."""
        cls = value.__class__
        if cls is str:
            return _Pending(value, label)
        if cls is bool:
            return value
        if cls is float:
            # A phone or a card number sent as a JSON float (447946095812.0) is still that number.
            if -_LARGE_NUMBER < value < _LARGE_NUMBER or not value.is_integer():
                return value
            return _Pending(str(int(value)), label, value)
        if isinstance(value, int):
            if -_LARGE_NUMBER < value < _LARGE_NUMBER:
                return value
            return _Pending(str(value), label, value)  # a phone or a card number written as digits
        return DROP

    def scanned(self, value: str) -> Any:
        cleaned, found = self.clean(value, self.replace, self.own, self.budget, self.country)
        if cleaned is None:
            return DROP
        if found:
            counts = self.report.found_in_text
            for kind, count in found.items():
                counts[kind] = counts.get(kind, 0) + count
        return cleaned

    def subtree(self, value: Any, label: str, depth: int) -> Any:
        """Anything below a path a destination keeps whole: strings scanned, personal keys as their kind."""
        if depth > _MAX_SUBTREE_DEPTH:
            return DROP
        cls = value.__class__
        if cls is dict:
            out: dict[str, Any] = {}
            for key, item in value.items():
                if not self._safe_key(key):
                    self._dropped_keys(value, [key], label)
                    continue
                self.keys.append((out, key, label))
                new = self.member(key, item, label, depth + 1)
                if new is DROP:
                    self.drops.append((label, key))
                    continue
                self.place(out, key, new)
            return out
        if cls is list:
            items: list[Any] = []
            for item in value:
                new = self.subtree(item, f"{label}[*]", depth + 1)
                if new is DROP:
                    continue
                items.append(None)
                self.place(items, len(items) - 1, new)
            return items
        if value is None:
            return None
        return self.kept(value, label)

    def member(self, key: str, value: Any, parent: str, depth: int) -> Any:
        """A key's value in unnamed territory: `name` and `id` are taken as the person's, as in traits."""
        label = f"{parent}.{key}" if parent else key
        kind = kind_of_trait(key)
        if kind is not None:
            return self.leaf(value, Leaf(kind, label=label)) if value is not None else None
        return self.subtree(value, label, depth)

    def entities(self, items: list[Any], rule: Entities) -> list[Any]:
        out = []
        for item in items:
            schema = item.get("schema") if item.__class__ is dict else None
            name = _schema_name(schema) if schema.__class__ is str else None
            data_rule = rule.by_schema.get(name) if name is not None else None
            if data_rule is None and name is not None:
                data_rule = rule.any
            if data_rule is None:
                self.drops.append((rule.label, _SchemaName(name or "")))
                collect_traits(item, self.found)  # an entity's name and id are its person's
                continue
            data = self.value(item.get("data"), data_rule) if item.get("data") is not None else None
            if data is DROP:
                self.drops.append((data_rule.label, None))
                continue
            if data is _EMPTIED:
                continue  # an entity none of whose fields may leave (a position that generalize drops)
            entity: dict[str, Any] = {"schema": schema, "data": data}
            if data_rule is rule.any and name is not None:  # a schema no allowlist names: anything
                self.schemas.append((entity, name, rule.label))
            out.append(entity)
        return out

    def described(self, document: dict[str, Any], rule: Described) -> Any:
        schema = document.get("schema")
        name = _schema_name(schema) if schema.__class__ is str else None
        if name is None:
            return DROP
        data_rule = rule.by_schema.get(name) or rule.any
        data = document.get("data")
        if data_rule is None:
            # The schema names the event, which analytics needs; its own data isn't allowed out.
            if data is not None:
                self.drops.append((f"{rule.label}.data", None))
                collect_traits(data, self.found)
            kept: dict[str, Any] = {"schema": schema, "data": {}}
        else:
            new = self.value(data, data_rule) if data is not None else None
            if new is DROP:
                self.drops.append((data_rule.label, None))
                new = {}
            elif new is _EMPTIED:
                new = {}
            kept = {"schema": schema, "data": new}
        if name not in rule.by_schema:  # its name leaves too: looked at once the own values are known
            self.schemas.append((kept, name, rule.label))
        return kept

    # -- what was dropped ----------------------------------------------------------------------------

    def _dropped_keys(self, node: dict[str, Any], keys: list[str], parent: str) -> None:
        """Keys left out of an object: noted for the audit, and looked into for this event's own values."""
        found = self.traits
        for key in keys:
            value = node[key]
            if value is None:
                continue
            self.drops.append((parent, key))
            label = f"{parent}.{key}" if parent else key
            if found.holds(label):
                collect_traits(value, self.found)
            else:
                collect_strong(key, value, self.found)

    def _drop_pending(self) -> None:
        for container, key, _text, label, _original in self.pending:
            self.drops.append((label, None))
            if container.__class__ is list:
                container[key] = _HOLE
                self.compact.append(container)
            else:
                container.pop(key, None)
        for holed in self.compact:
            holed[:] = [item for item in holed if item is not _HOLE]
        self.pending = []

    def _list_drops(self) -> None:
        # A key comes from the event and may itself be personal (an email used as a key):
        # the audit names it only when it looks like a field name and isn't one of the event's values.
        listed = self.report.dropped
        seen = set(listed)
        for position, (label, key) in enumerate(self.drops):
            if len(listed) >= MAX_DROPPED_LISTED:
                self.report.dropped_more += len(self.drops) - position  # counted, not each labelled
                break
            if key.__class__ is _SchemaName:
                shown = key if _SCHEMA_NAME.fullmatch(key) and self._name_safe(key) else "<schema>"
                label = f"{label}[{shown}]"
            elif key is not None:
                shown = key if _LABEL_KEY.fullmatch(key) and self._name_safe(key) else "<key>"
                label = f"{label}.{shown}" if label else shown
            if label in seen:
                continue
            seen.add(label)
            listed.append(label)

    def _name_safe(self, name: str) -> bool:
        """Whether a name from the event (a key, a schema's vendor/name) may be written where it leaves.

        Not when it holds five digits or more (a phone, a card, an IP, an id), one of this event's
        own values or name words even glued into it (`JaneDoe`, `user-8812-cart`), or anything the
        value scan finds.
        """
        if sum(map(str.isdigit, name)) >= 5:
            return False
        if self.own_words is None:
            self.own_words = _own_words(self.own)
        squashed = _NOT_ALNUM.sub("", name.lower())
        if any(word in squashed for word in self.own_words):
            return False
        return self.clean(name, _refuse, self.own, self.budget, self.country)[0] is name

    def _safe_key(self, key: str) -> bool:
        """Whether a key a destination keeps by wildcard may leave (the scan finds nothing in it).

        The own values aren't all known yet: `run` looks at the key again once they are.
        """
        cleaned, _found = self.clean(key, _refuse, (), self.budget, self.country)
        return cleaned is key


def _own_words(own: tuple[OwnValue, ...]) -> frozenset[str]:
    """The own values, and each word of a name, lower-cased with only letters and digits left."""
    words = {_NOT_ALNUM.sub("", value.lower()) for _, value in own}
    names = [value for kind, value in own if kind == "name"]
    words |= {_NOT_ALNUM.sub("", word.lower()) for value in names for word in value.split()}
    return frozenset(word for word in words if len(word) >= 3)


class _SchemaName(str):
    """A dropped entity's schema vendor/name, listed as `label[vendor/name]`."""

    __slots__ = ()


_NOT_ALNUM = re.compile(r"[\W_]+")
_SCHEMA_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}/[A-Za-z0-9_-]{1,128}")
# What a self-describing event or an entity leaves as when its schema's name can't leave.
WITHHELD_SCHEMA = "iglu:io.residencygateway/withheld/jsonschema/1-0-0"


_HOLE = object()  # where a dropped string sat in a list, until the list is compacted
_KEEP = Treat.KEEP


_MAX_SUBTREE_DEPTH = 32
_EMPTIED = object()  # an object whose every field was dropped: left out, its fields already listed


def _open(at: Any) -> None:
    """Scan mode: every object and entity list also keeps what it doesn't name, as a scanned subtree."""
    if isinstance(at, Obj):
        for child in at.fields.values():
            _open(child)
        if at.any_key is None:
            at.any_key = Subtree(f"{at.label}.*" if at.label else "*")
        else:
            _open(at.any_key)
    elif isinstance(at, Each):
        _open(at.item)
    elif isinstance(at, Entities | Described):
        for child in at.by_schema.values():
            _open(child)
        if at.any is None:
            at.any = Subtree(f"{at.label}[*].data")
        else:
            _open(at.any)


def _refuse(kind: str, value: str) -> str:
    return "x"


@lru_cache(maxsize=4096)
def _schema_name(schema: str) -> str | None:
    """`iglu:com.acme/user/jsonschema/1-0-0` → `com.acme/user`; None for anything else."""
    match = _IGLU.fullmatch(schema)
    return f"{match.group(1)}/{match.group(2)}" if match else None


def _without_query(url: str) -> str:
    """A URL (or path) without its query, fragment, path parameters (;jsessionid=) or user info.

    The marks count however they are written: percent-encoded once or more (`%3F`, `%253F`) or
    fullwidth, since the value scan decodes them and would otherwise bring the query back.
    """
    mark = _QUERY_MARK.search(url)
    if mark is not None:
        url = url[: mark.start()]
    start = url.find("//")  # scheme://host or a scheme-relative //host
    if start >= 0:
        host_start = start + 2
        host_end = url.find("/", host_start)
        host_end = len(url) if host_end < 0 else host_end
        ends = [match.end() for match in _USER_INFO_END.finditer(url, host_start, host_end)]
        if ends:
            url = url[:host_start] + url[ends[-1] :]
    return url


def _origin(url: str) -> str | None:
    """A referrer's scheme and host (`https://www.google.com`); None when it isn't an absolute URL."""
    scheme_end = url.find("://")
    if scheme_end <= 0:
        return None
    host_start = scheme_end + 3
    end = _HOST_END.search(url, host_start)
    without = _without_query(url[: end.start() if end is not None else len(url)])
    return without if without.startswith(url[:host_start]) else None


# Where a URL's query, fragment or path parameters start, however the mark is written.
_QUERY_MARK = re.compile(r"[?#;\uff1f\uff03\uff1b]|%(?:25)*(?:3[fFbB]|23)")
# The end of user info (`user:password@`), percent-encoded or not.
_USER_INFO_END = re.compile(r"@|%(?:25)*40")
_HOST_END = re.compile(r"[/?#\\]|%(?:25)*(?:2[fF]|3[fF]|23)")


def _set_path_rule(root: Obj, text: str, transform: str) -> None:
    """A field rule's `paths` entry in the allowlist: its transform wins over the format's treatment."""
    from streams.formats.base import parse_path

    at: Any = root
    parts = parse_path(text)
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        if isinstance(at, Each):
            at = at.item  # a list index in a path rule stands for the list's elements
            if isinstance(part, int):
                continue
        if not isinstance(at, Obj):
            return  # the path leads where the allowlist holds no object: nothing of it leaves anyway
        key = str(part)
        child = at.fields.get(key)
        if last:
            if transform == "drop":
                if child is not None:
                    at.fields[key] = Leaf(Treat.KEEP, child.label, transform="drop")
                return
            leaf = (
                child
                if isinstance(child, Leaf)
                else Leaf(Treat.KEEP, f"{at.label}.{key}" if at.label else key)
            )
            leaf.transform = transform
            at.fields[key] = leaf
            return
        if child is None:
            if transform == "drop":
                return
            child = at.fields[key] = Obj({}, label=f"{at.label}.{key}" if at.label else key)
        at = child


def keep_path_misfits(config: GatewayConfig) -> list[str]:
    """Keep paths that can't apply to the events they name (a list step where events hold an object)."""
    from streams.formats.detect import decoder_for  # the configured formats, as the pipeline builds them

    formats = decoder_for(config).formats
    problems = []
    for name, destination in config.destinations.items():
        for format_name, entries in destination.keep_paths().items():
            named = formats.get(format_name)
            targets = list(formats.values()) if format_name == "*" else [named] if named is not None else []
            if not targets:
                continue
            for text, steps in entries:
                if all(with_keep_paths(f.allowed, [(text, steps)], kept_key_kind).misfits for f in targets):
                    which = "any format's" if format_name == "*" else f"{format_name}"
                    problems.append(
                        f"destinations.{name}.keep: {text!r} can't apply to {which} events "
                        "(a [*] where they hold an object, or a key where they hold a list); it keeps nothing"
                    )
    return problems


class _Traits:
    """Where a format keeps trait containers (Segment traits, GA4 user properties): in what is dropped
    from them, `name` and `id` are the person's. Labels as the walk makes them; "x*" is a prefix."""

    __slots__ = ("exact", "prefixes")

    def __init__(self, exact: frozenset[str], prefixes: tuple[str, ...]) -> None:
        self.exact = exact
        self.prefixes = prefixes

    def holds(self, label: str) -> bool:
        return label in self.exact or (bool(self.prefixes) and label.startswith(self.prefixes))


@lru_cache(maxsize=64)
def _traits_of(personal: PersonalFields) -> _Traits:
    exact: set[str] = set()
    prefixes: list[str] = []
    for path in personal.trait_containers:
        while path and path[-1] == EACH:
            path = path[:-1]  # a list of entities under a key of its own (enriched JSON): the key
        if any(part == EACH for part in path) or not all(isinstance(part, str) for part in path):
            continue  # lists of entities: a dropped entity is looked into as a whole (_Copy.entities)
        text = ".".join(str(part) for part in path)
        if text.endswith("*"):
            prefixes.append(text[:-1])
        else:
            exact.add(text)
    return _Traits(frozenset(exact), tuple(prefixes))

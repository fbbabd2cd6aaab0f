"""An exported copy: what leaves a region holds only what the destination's allowlist names (default-deny).

The copy is built, not scrubbed: a walk over the event keeps each field its allowlist
names, in the form the allowlist says (streams/allowlist.py), and drops the rest,
noting each dropped path for the audit. Every kept string passes the value scan
(streams/value_scan.py), which also replaces this event's own identifying values
wherever they recur (streams/identities.py). Anything the walk can't read as the
allowlist expects (an object where a scalar belongs, a value too large to scan) is
dropped, never passed on: a field nobody listed, in a casing or an encoding nobody
foresaw, can't cross a border.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from streams.audit import CopyReport
from streams.config import GatewayConfig
from streams.allowlist import (
    PERSONAL_TREATS,
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
from streams.formats.base import CollectorFormat
from streams.generalize import DROP
from streams.identities import OwnValue, kept_key_kind, kind_of_trait, own_values
from streams.personal import PersonalTransforms
from streams.value_scan import ScanBudget, ValueScanner

# Keep paths per format name; "*" holds the ones that apply to every format.
KeepPaths = Mapping[str, Sequence[tuple[str, tuple[Step, ...]]]]
MAX_DROPPED_LISTED = 64  # an audit record names this many dropped paths, then counts the rest
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
        path_rules: Mapping[str, Mapping[str, str]] | None = None,
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
    ) -> tuple[bytes, CopyReport]:
        """The copy's bytes, in the event's own format, and what was kept, transformed and dropped."""
        report = CopyReport()
        report.key_version = self.transforms.begin()
        root = self.allowlist(collector).root
        view = collector.expanded(event)
        copy = _Copy(self, report, subject, country, own_values(view, collector.personal))
        kept = copy.object(view, root)
        return collector.encode(collector.compacted(kept), envelope), report


class _Copy:
    """One event's copy in the making: its own values, its scan budget, and what was done."""

    __slots__ = ("_own_lower", "budget", "copier", "country", "own", "replace", "report", "subject")

    def __init__(
        self,
        copier: ExportCopier,
        report: CopyReport,
        subject: str | None,
        country: str | None,
        own: list[OwnValue],
    ) -> None:
        self.copier = copier
        self.report = report
        self.subject = subject
        self.country = country
        self.own = own
        self._own_lower: frozenset[str] | None = None
        self.budget = ScanBudget()
        transforms = copier.transforms
        self.replace = lambda kind, value: transforms.replace_found(kind, value, country)

    # -- the walk ------------------------------------------------------------------------------------

    def object(self, node: dict[str, Any], rule: Obj) -> dict[str, Any]:
        fields = rule.fields
        any_key = rule.any_key
        out: dict[str, Any] = {}
        for key, value in node.items():
            child = fields.get(key)
            if child is None:
                if any_key is None or not self._safe_key(key):
                    if value is not None:
                        self._dropped_key(rule.label, key)
                    continue
                if any_key.__class__ is Subtree:  # unnamed territory: the key's name says what it holds
                    new = self.member(key, value, rule.label, 0)
                    if new is DROP:
                        self._dropped_key(rule.label, key)
                    else:
                        out[key] = new
                    continue
                child = any_key
            if value is None:
                out[key] = None
                continue
            new = self.value(value, child)
            if new is DROP:
                self.dropped(child.label)
            elif new is not _EMPTIED:
                out[key] = new
        return out

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
            items = []
            for element in value:
                new = self.value(element, item) if element is not None else None
                if new is DROP:
                    self.dropped(item.label)
                elif new is not _EMPTIED:
                    items.append(new)
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
                return self.kept(value)
            return self._personal("path", rule.transform, value, rule.label)
        if treat is Treat.KEEP:
            return self.kept(value)
        if treat in PERSONAL_TREATS:
            kind = treat.value
            transform = self.copier.transforms.transform_of(kind)
            if transform == "keep":
                return self.kept(value)
            return self._personal(kind, transform, value, rule.label)
        if value.__class__ is not str:
            return DROP
        if treat is Treat.URL or treat is Treat.PATH:
            return self.text(_without_query(value))
        if treat is Treat.REFERRER:
            origin = _origin(value)
            return DROP if origin is None else self.text(origin)
        # COUNTRY: kept unless the rules drop geo altogether.
        return DROP if self.copier.transforms.transform_of("geo") == "drop" else self.text(value)

    def _personal(self, kind: str, transform: str, value: Any, label: str) -> Any:
        if value.__class__ is dict:
            return DROP  # an id can't be an object; its keys could be anything
        if value.__class__ is list:
            value = [item for item in value if item.__class__ is not dict and item.__class__ is not list]
        new = self.copier.transforms.apply(kind, transform, value, self.subject, self.country)
        if new is not DROP:  # what a rule removes is listed with the rest of what was dropped
            self.report.fields.append((label, transform))
        return new

    def kept(self, value: Any) -> Any:
        """A scalar kept as it is, once the value scan has seen it; DROP for anything else."""
        cls = value.__class__
        if cls is str:
            return self.text(value)
        if cls is bool or cls is float:
            return value
        if isinstance(value, int):
            if -_LARGE_NUMBER < value < _LARGE_NUMBER:
                return value
            text = str(value)
            cleaned = self.text(text)
            return value if cleaned is text else cleaned
        return DROP

    def text(self, value: str) -> Any:
        cleaned, found = self.copier._scanner.clean(value, self.replace, self.own, self.budget, self.country)
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
            out = {}
            for key, item in value.items():
                if not self._safe_key(key):
                    self._dropped_key(label, key)
                    continue
                new = self.member(key, item, label, depth + 1)
                if new is DROP:
                    self._dropped_key(label, key)
                else:
                    out[key] = new
            return out
        if cls is list:
            items = [self.subtree(item, f"{label}[*]", depth + 1) for item in value]
            return [item for item in items if item is not DROP]
        if value is None:
            return None
        return self.kept(value)

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
                self.dropped(f"{rule.label}[{name or '<schema>'}]")
                continue
            data = self.value(item.get("data"), data_rule) if item.get("data") is not None else None
            if data is DROP:
                self.dropped(data_rule.label)
                continue
            if data is _EMPTIED:
                continue  # an entity none of whose fields may leave (a position that generalize drops)
            out.append({"schema": schema, "data": data})
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
                self.dropped(f"{rule.label}.data")
            return {"schema": schema, "data": {}}
        new = self.value(data, data_rule) if data is not None else None
        if new is DROP:
            self.dropped(data_rule.label)
            new = {}
        elif new is _EMPTIED:
            new = {}
        return {"schema": schema, "data": new}

    # -- what was dropped ----------------------------------------------------------------------------

    def dropped(self, label: str) -> None:
        listed = self.report.dropped
        if label in listed:
            return
        if len(listed) < MAX_DROPPED_LISTED:
            listed.append(label)
        else:
            self.report.dropped_more += 1

    def _dropped_key(self, parent: str, key: str) -> None:
        # A key comes from the event and may itself be personal (an email used as a key):
        # the audit names it only when it looks like a field name and isn't one of the event's values.
        shown = key if _LABEL_KEY.fullmatch(key) and key.lower() not in self._own_set() else "<key>"
        self.dropped(f"{parent}.{shown}" if parent else shown)

    def _own_set(self) -> frozenset[str]:
        if self._own_lower is None:
            words = {value.lower() for _, value in self.own}
            words |= {word.lower() for kind, value in self.own if kind == "name" for word in value.split()}
            self._own_lower = frozenset(words)
        return self._own_lower

    def _safe_key(self, key: str) -> bool:
        """Whether a key a destination keeps by wildcard may leave as it is (the scan finds nothing in it)."""
        cleaned, _found = self.copier._scanner.clean(key, _refuse, self.own, self.budget, self.country)
        return cleaned is key


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
    """A URL (or path) without its query, fragment, path parameters (;jsessionid=) or user info."""
    cut = len(url)
    for mark in ("?", "#", ";"):
        at = url.find(mark)
        if 0 <= at < cut:
            cut = at
    url = url[:cut]
    scheme_end = url.find("://")
    if scheme_end >= 0:
        host_start = scheme_end + 3
        host_end = url.find("/", host_start)
        host_end = len(url) if host_end < 0 else host_end
        at = url.rfind("@", host_start, host_end)
        if at >= 0:
            url = url[:host_start] + url[at + 1 :]
    return url


def _origin(url: str) -> str | None:
    """A referrer's scheme and host (`https://www.google.com`); None when it isn't an absolute URL."""
    scheme_end = url.find("://")
    if scheme_end <= 0:
        return None
    host_start = scheme_end + 3
    end = len(url)
    for mark in ("/", "?", "#"):
        at = url.find(mark, host_start)
        if 0 <= at < end:
            end = at
    host = url[host_start:end]
    host = host.rpartition("@")[2]
    return url[:host_start] + host


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
            leaf = child if isinstance(child, Leaf) else Leaf(Treat.KEEP, f"{at.label}.{key}" if at.label else key)
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

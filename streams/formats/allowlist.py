"""What an exported copy may hold: the allowlist language, and a destination's allowlist per format.

A copy that leaves its region keeps only what an allowlist names (default-deny).
Each collector format ships one in code (streams/formats/allowlists/), listing the fields its
own spec defines that carry no personal data, each with a reason; a destination's
`keep` adds paths to it. What the allowlist doesn't name is dropped, and the copy's
audit record lists the dropped paths, so a user widens the list knowingly.

An allowlist is a tree that mirrors the event's shape:
- `Leaf`: a scalar and how it leaves (`Treat`): kept as it is (strings still pass the
  value scan), cut down (a URL to its path, a referrer to its host), or transformed as
  its kind of personal field says in the field rules (ids pseudonymized, IPs and
  times generalized).
- `Obj`: an object: the keys it may keep, and optionally a rule for any other key (`*`).
- `Each`: a list whose elements all follow one rule (`[*]`).
- `Entities`: a list of self-describing JSON documents (`{"schema": ..., "data": ...}`,
  Snowplow's context entities), each kept or dropped by its schema.
- `Described`: one self-describing document (Snowplow's self-describing event): the
  schema always stays (it names the event), the data follows the rule for its schema.
- `Subtree`: anything below, as a user's `keep` of a whole object asks; strings scanned,
  keys that name a person's details still treated as that kind.
"""

from __future__ import annotations

import copy
import enum
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Union


class Treat(enum.Enum):
    """How an allowed scalar leaves its region."""

    KEEP = "keep"  # not personal: kept as it is, a string after the value scan
    # The collector's id for the event: kept as KEEP is when it has a generated id's shape
    # (audit.looks_generated), else its pseudonym, for an app may have put a name there.
    EVENT_ID = "event_id"
    URL = "url"  # scheme, host and path; query, fragment and user info dropped
    PATH = "path"  # a URL's path; query and fragment dropped
    REFERRER = "referrer"  # the scheme and host of the page a visitor came from
    COUNTRY = "country"  # country-level geo: kept unless the field rules drop geo
    # Personal kinds: each transformed as the field rules say (config.FieldRules).
    USER_ID = "user_id"
    ANONYMOUS_ID = "anonymous_id"
    EMAIL = "email"
    PHONE = "phone"
    NAME = "name"
    IP = "ip"
    GEO = "geo"  # a position finer than the country (city, coordinates): generalize drops it
    USER_AGENT = "user_agent"
    TIMESTAMP = "timestamp"


# Short names for the allowlists in streams/formats/allowlists/, which read as tables.
KEEP, URL, PATH, REFERRER, COUNTRY = Treat.KEEP, Treat.URL, Treat.PATH, Treat.REFERRER, Treat.COUNTRY
EVENT_ID = Treat.EVENT_ID
USER_ID, ANONYMOUS_ID, IP, GEO = Treat.USER_ID, Treat.ANONYMOUS_ID, Treat.IP, Treat.GEO
USER_AGENT, TIMESTAMP = Treat.USER_AGENT, Treat.TIMESTAMP

# Treatments whose values are this event's own identifying values (streams/transform/identities.py),
# by own kind.
OWN_KINDS = {
    Treat.USER_ID: "user_id",
    Treat.ANONYMOUS_ID: "anonymous_id",
    Treat.EMAIL: "email",
    Treat.PHONE: "phone",
    Treat.IP: "ip",
    Treat.NAME: "name",
}
# The treatments that are field-rule kinds (config.FieldRules attributes).
PERSONAL_TREATS = frozenset(
    {Treat.USER_ID, Treat.ANONYMOUS_ID, Treat.EMAIL, Treat.PHONE, Treat.NAME, Treat.IP, Treat.GEO,
     Treat.USER_AGENT, Treat.TIMESTAMP}
)  # fmt: skip


@dataclass(slots=True)
class Leaf:
    treat: Treat
    label: str = ""
    transform: str | None = None  # a field rule's `paths` transform, which wins over the treatment
    # Set from `treat`, so the walk reads a string rather than hashing an enum member per value:
    kind: str | None = field(init=False, default=None)  # the field-rule kind, for a personal treat
    own: str | None = field(init=False, default=None)  # the kind of own value it holds, if it names one

    def __post_init__(self) -> None:
        self.kind = self.treat.value if self.treat in PERSONAL_TREATS else None
        self.own = OWN_KINDS.get(self.treat)


@dataclass(slots=True)
class Obj:
    fields: dict[str, Node]
    any_key: Node | None = None  # the rule for a key not in `fields` (a `*` in a keep path)
    label: str = ""


@dataclass(slots=True)
class Each:
    item: Node
    label: str = ""


@dataclass(slots=True)
class Entities:
    # "vendor/name" of a schema (iglu:vendor/name/jsonschema/1-0-0) → the rule for its data.
    by_schema: dict[str, Node]
    any: Node | None = None  # the rule for every entity's data (a `[*]` in a keep path)
    label: str = ""


@dataclass(slots=True)
class Described:
    by_schema: dict[str, Node]
    any: Node | None = None
    label: str = ""


@dataclass(slots=True)
class Subtree:
    label: str = ""


Node = Union[Leaf, Obj, Each, Entities, Described, Subtree]  # noqa: UP007 - a runtime alias, used in isinstance
# What the allowlists in code are written with: a Treat stands for a Leaf, a dict for an Obj.
Spec = Union[Treat, Node, Mapping[str, "Spec"]]  # noqa: UP007


def obj(fields: Mapping[str, Spec], any_key: Spec | None = None) -> Obj:
    return Obj({key: node(value) for key, value in fields.items()}, node(any_key) if any_key else None)


def kept(*names: str) -> dict[str, Spec]:
    """Fields that leave as they are, written as a dict to spread into an allowlist."""
    return dict.fromkeys(names, KEEP)


def each(item: Spec) -> Each:
    return Each(node(item))


def entities(by_schema: Mapping[str, Spec]) -> Entities:
    return Entities({schema: node(spec) for schema, spec in by_schema.items()})


def described(by_schema: Mapping[str, Spec]) -> Described:
    return Described({schema: node(spec) for schema, spec in by_schema.items()})


def merged(base: Mapping[str, Spec], more: Mapping[str, Spec]) -> dict[str, Spec]:
    """Two allowlists written as dicts, one: `more` adds keys and, where both hold a dict, merges into it."""
    out = dict(base)
    for key, spec in more.items():
        existing = out.get(key)
        if isinstance(existing, Mapping) and isinstance(spec, Mapping):
            out[key] = merged(existing, spec)
        else:
            out[key] = spec
    return out


def node(spec: Spec) -> Node:
    if isinstance(spec, Treat):
        return Leaf(spec)
    if isinstance(spec, Leaf | Obj | Each | Entities | Described | Subtree):
        return copy.deepcopy(spec)  # a node written once may be used in several places: each its own
    return obj(spec)


# --- keep paths: a destination's additions, e.g. properties.plan, properties.products[*].sku ------------

_SEGMENT = re.compile(r"(?P<key>[^.\[\]]+)|\[(?P<select>[^\[\]]+)\]|(?P<dot>\.)")
ANY = "*"


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a keep path: an object key (or ANY), or a list element (every one, or by schema)."""

    key: str | None = None
    element: str | None = None  # ANY for [*]; "vendor/name" to pick entities by schema


def parse_keep_path(text: str | Sequence[str | int]) -> tuple[Step, ...]:
    """`properties.products[*].sku` → steps; a list of keys is taken literally (for keys with dots).

    Raises ValueError with the reason when the text isn't a path.
    """
    if not isinstance(text, str):
        if not text:
            raise ValueError("a keep path needs at least one key")
        return tuple(Step(element=ANY) if part == "[*]" else Step(key=str(part)) for part in text)
    steps: list[Step] = []
    position = 0
    expect_key = True
    while position < len(text):
        match = _SEGMENT.match(text, position)
        if match is None:
            raise ValueError(f"{text!r} is not a keep path (keys joined by '.', [*] for list elements)")
        if match.group("dot"):
            if expect_key:
                raise ValueError(f"{text!r} has an empty key")
            expect_key = True
        elif match.group("key") is not None:
            if not expect_key:
                raise ValueError(f"{text!r}: a key must follow '.'")
            steps.append(Step(key=match.group("key")))
            expect_key = False
        else:
            if expect_key and steps:
                raise ValueError(f"{text!r}: '[' must follow a key, not '.'")
            selected = match.group("select").strip()
            if not selected:
                raise ValueError(f"{text!r} has an empty [ ]")
            steps.append(Step(element=ANY if selected == ANY else selected))
            expect_key = False
        position = match.end()
    if expect_key or not steps:
        raise ValueError(f"{text!r} ends with '.' or is empty")
    if steps[0].key is None:
        raise ValueError(f"{text!r} must start with a key")
    return tuple(steps)


def keep_path_text(steps: Sequence[Step]) -> str:
    text = ""
    for step in steps:
        if step.key is not None:
            text += f".{step.key}" if text else step.key
        else:
            text += f"[{step.element}]"
    return text


@dataclass(slots=True)
class Compiled:
    """A format's allowlist with a destination's keep paths in it, labelled, and the paths that didn't fit."""

    root: Obj
    misfits: list[str] = field(default_factory=list)


KeyClassifier = Callable[[str], Treat]  # a kept key's kind by its name: firstName is a name, plan is kept


def with_keep_paths(
    allowed: Obj, paths: Sequence[tuple[str, tuple[Step, ...]]], classify: KeyClassifier
) -> Compiled:
    """A copy of `allowed` that also keeps `paths` (each with its text, for messages), labelled.

    A kept path never weakens what the allowlist says: an id it names stays pseudonymized.
    A kept key that names a person's details (firstName, email, phone) counts as that kind,
    so the field rules still apply to it. A path that can't apply to this format's events
    (a list step where its events hold an object) is listed in `misfits`.
    """
    root = copy.deepcopy(allowed)
    misfits = [text for text, steps in paths if not _insert(root, steps, classify)]
    _label(root, "")
    return Compiled(root, misfits)


def _insert(at: Node, steps: Sequence[Step], classify: KeyClassifier) -> bool:
    current = at
    position = 0
    while position < len(steps):
        step = steps[position]
        last = position == len(steps) - 1
        if isinstance(current, Subtree):
            return True  # already kept whole
        if isinstance(current, Entities | Described):
            # A list of entities (or one self-describing document): [*] or [vendor/name] picks
            # whose data the rest of the path is in; the path then names their `data` key.
            if step.key is not None and isinstance(current, Described):
                selected: str | None = ANY  # ue_pr.data.data.plan: every self-describing event
                position -= 1  # this `data` key is the one a selector would be followed by
            else:
                selected = step.element
            if selected is None:
                return False
            if selected == ANY:
                if current.any is None:
                    current.any = _new(steps, position + 1, classify, leaf_allowed=False)
                current = current.any
            else:
                child = current.by_schema.get(selected)
                if child is None:
                    child = current.by_schema[selected] = _new(
                        steps, position + 1, classify, leaf_allowed=False
                    )
                current = child
            following = steps[position + 1] if position + 1 < len(steps) else None
            if following is None:
                _keep_whole(current)
                return True
            if following.key != "data":
                return False
            position += 2
            if position == len(steps):
                _keep_whole(current)
                return True
            continue
        if step.key is not None:
            if not isinstance(current, Obj):
                return False
            if step.key == ANY:
                child = current.any_key
                if child is None or (last and not isinstance(child, Subtree)):
                    child = current.any_key = _new(steps, position, classify)
            else:
                child = current.fields.get(step.key)
                if child is None:
                    child = current.fields[step.key] = _new(steps, position, classify)
                elif last:
                    _keep_whole(child)
            current = child
            position += 1
            continue
        if not isinstance(current, Each) or step.element != ANY:
            return False  # a list step where this format's events hold no plain list
        current = current.item
        if last:
            _keep_whole(current)
        position += 1
    return True


def _keep_whole(at: Node) -> None:
    # Keeping an object whole: its named fields keep their rules, every other key is kept.
    if isinstance(at, Obj) and at.any_key is None:
        at.any_key = Subtree()
    elif isinstance(at, Each):
        _keep_whole(at.item)
    elif isinstance(at, Entities | Described) and at.any is None:
        at.any = Subtree()


def _new(steps: Sequence[Step], position: int, classify: KeyClassifier, *, leaf_allowed: bool = True) -> Node:
    """The node a keep path creates at `position`: what its next step needs, or what it keeps."""
    if position >= len(steps) - 1:
        step = steps[position] if position < len(steps) else None
        if leaf_allowed and step is not None and step.key is not None and step.key != ANY:
            treat = classify(step.key)
            if treat is not Treat.KEEP:
                return Leaf(treat)
        return Subtree()
    following = steps[position + 1]
    if following.key is not None:
        return Obj({})
    if following.element == ANY:
        return Each(Obj({}))
    return Entities({})


def _label(at: Node, label: str) -> None:
    at.label = label
    if isinstance(at, Obj):
        for key, child in at.fields.items():
            _label(child, f"{label}.{key}" if label else key)
        if at.any_key is not None:
            _label(at.any_key, f"{label}.*" if label else "*")
    elif isinstance(at, Each):
        _label(at.item, f"{label}[*]")
    elif isinstance(at, Entities):
        for schema, child in at.by_schema.items():
            _label(child, f"{label}[{schema}].data")
        if at.any is not None:
            _label(at.any, f"{label}[*].data")
    elif isinstance(at, Described):
        for child in at.by_schema.values():
            _label(child, f"{label}.data")
        if at.any is not None:
            _label(at.any, f"{label}.data")


def rows(root: Node) -> list[tuple[str, Treat | None]]:
    """Every path an allowlist names, with how it leaves (None: kept whole, below a kept path)."""
    found: list[tuple[str, Treat | None]] = []

    def walk(at: Node, path: str) -> None:
        if isinstance(at, Leaf):
            found.append((path, at.treat))
        elif isinstance(at, Subtree):
            found.append((path, None))
        elif isinstance(at, Obj):
            for key, child in at.fields.items():
                walk(child, f"{path}.{key}" if path else key)
            if at.any_key is not None:
                walk(at.any_key, f"{path}.*" if path else "*")
        elif isinstance(at, Each):
            walk(at.item, f"{path}[*]")
        elif isinstance(at, Entities):
            for schema, child in at.by_schema.items():
                walk(child, f"{path}[{schema}].data")
            if at.any is not None:
                walk(at.any, f"{path}[*].data")
        else:  # Described: its schema always leaves; its data by schema
            found.append((f"{path}.schema", Treat.KEEP))
            for schema, child in at.by_schema.items():
                walk(child, f"{path}[{schema}].data")
            if at.any is not None:
                walk(at.any, f"{path}[*].data")

    walk(root, "")
    return found


# How each treatment reads in the tables of docs/transforms.md and `residency-gateway allowlist`,
# with the default field rules (`pseudonymized`) for the personal kinds.
TREATMENT_TEXT: dict[Treat | None, str] = {
    Treat.KEEP: "as it is (strings pass the value scan)",
    Treat.EVENT_ID: "as it is when shaped like a generated id (a UUID), else pseudonymized",
    Treat.URL: "without query, fragment, path parameters or user info",
    Treat.PATH: "without query or fragment",
    Treat.REFERRER: "scheme and host only",
    Treat.COUNTRY: "as it is: country level (dropped if the rules drop geo)",
    Treat.USER_ID: "pseudonymized (the user_id rule)",
    Treat.ANONYMOUS_ID: "pseudonymized (the anonymous_id rule)",
    Treat.EMAIL: "pseudonymized (the email rule)",
    Treat.PHONE: "pseudonymized (the phone rule)",
    Treat.NAME: "dropped (the name rule)",
    Treat.IP: "to its /24 or /48 (the ip rule)",
    Treat.GEO: "dropped: finer than the country (the geo rule)",
    Treat.USER_AGENT: "browser family and OS (the user_agent rule)",
    Treat.TIMESTAMP: "cut to the hour (the timestamp rule)",
    None: "kept whole, strings scanned, personal-named keys as their kind",
}


def table(root: Node) -> str:
    """The allowlist as a markdown table: how each group of fields leaves, siblings folded into braces."""
    grouped: dict[Treat | None, dict[str, list[str]]] = {}
    for path, treat in rows(root):
        parent, _, leaf = _split_last(path)
        grouped.setdefault(treat, {}).setdefault(parent, []).append(leaf)
    lines = ["| leaves as | fields |", "|---|---|"]
    for treat, text in TREATMENT_TEXT.items():
        parents = grouped.get(treat)
        if not parents:
            continue
        fields = []
        for parent, leaves in parents.items():
            if not parent:
                fields += [f"`{leaf}`" for leaf in leaves]
            elif len(leaves) == 1:
                fields.append(f"`{parent}.{leaves[0]}`")
            else:
                fields.append(f"`{parent}.{{{', '.join(leaves)}}}`")
        lines.append(f"| {text} | {', '.join(fields)} |")
    return "\n".join(lines)


def _split_last(path: str) -> tuple[str, str, str]:
    # The last step is a key after a '.'; a key holding '.' only sits inside [...], never last.
    depth = 0
    for position in range(len(path) - 1, -1, -1):
        char = path[position]
        if char == "]":
            depth += 1
        elif char == "[":
            depth -= 1
        elif char == "." and depth == 0:
            return path[:position], ".", path[position + 1 :]
    return "", "", path

"""Read a configuration file into a validated `GatewayConfig`, or every mistake in it with its path."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from streams.config.checks import cross_checks
from streams.config.schema import GatewayConfig

# The copy shipped inside the package; `config/policy.yaml` in the repository is the same file.
DEFAULT_CONFIG_NAME = "default_policy.yaml"


class ConfigError(Exception):
    """A configuration that can't be used; `problems` lists every mistake with its path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{source}: {len(problems)} {noun}\n" + "\n".join(f"  {p}" for p in problems))


def load_config(path: str | Path | None = None) -> GatewayConfig:
    """Load and validate a config file; None means the default policy shipped with the package."""
    if path is None:
        text = resources.files("streams.config").joinpath(DEFAULT_CONFIG_NAME).read_text()
        return parse_config(text, source="default policy")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"can't read the file: {exc.strerror}"]) from None
    return parse_config(text, source=str(path))


def parse_config(text: str, source: str = "<config>") -> GatewayConfig:
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(source, [_describe_yaml_error(exc)]) from None
    if not isinstance(document, Mapping):
        raise ConfigError(source, ["the file must hold a mapping of settings"])
    try:
        config = GatewayConfig.model_validate(document)
    except ValidationError as exc:
        raise ConfigError(source, _describe_all(exc.errors())) from None
    problems = cross_checks(config)
    if problems:
        raise ConfigError(source, problems)
    return config


_COUNTRY_LIST_BRANCH = "list[function-after[_country_or_group(), str]]"
_REST_OF_WORLD_BRANCH = "literal['*']"


def _describe_all(errors: list[Any]) -> list[str]:
    """One line per mistake, folding the two branches of `countries` (a list, or '*') and of `keep`."""
    described: list[str] = []
    for error in errors:
        loc = error["loc"]
        if _REST_OF_WORLD_BRANCH in loc:
            continue  # the list branch's error says more, or the type error below does
        if loc and loc[-1] == _COUNTRY_LIST_BRANCH and error["type"] == "list_type":
            path = _path(loc[:-1])
            described.append(f"{path}: must be a list of countries or '*' (got {error['input']!r})")
            continue
        if loc and _is_branch(loc[-1]) and error["type"] in {"list_type", "dict_type"}:
            # One branch of a union that the value isn't shaped for: the other branch speaks.
            if any(_is_branch(part) for part in loc[:-1]):
                continue
            others = [e for e in errors if e is not error and e["loc"][: len(loc) - 1] == loc[:-1]]
            if all(e["type"] in {"list_type", "dict_type"} for e in others):
                described.append(f"{_path(loc[:-1])}: {_BRANCH_SHAPES.get(loc[-2], 'has the wrong shape')}")
            continue
        described.append(_describe(error))
    return list(dict.fromkeys(described))


_BRANCH_SHAPES = {"keep": "must be a list of paths, or a mapping of format name to a list of paths"}


def _is_branch(part: Any) -> bool:
    """pydantic's name for a union branch (`list[...]`, `dict[...]`): noise to a reader."""
    return isinstance(part, str) and part.endswith("]") and part.startswith(("list[", "dict[", "literal["))


def _path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == _COUNTRY_LIST_BRANCH or _is_branch(part) or part == "[key]":
            continue  # pydantic's name for a union branch is noise to a reader
        else:
            path += f".{part}" if path else str(part)
    return path


def _describe(error: Any) -> str:
    path = _path(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        message = "unknown key"
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "value_error":
        message = str(error["ctx"]["error"])
    else:
        message = f"{error['msg']} (got {error['input']!r})"
        if kind == "string_type" and isinstance(error["input"], bool):
            # YAML 1.1, which PyYAML reads, takes an unquoted NO, YES, ON, OFF, Y or N for a boolean.
            message += (
                ": YAML reads an unquoted NO, YES, ON, OFF, Y or N as true or false; quote it"
                ' ("NO" for Norway)'
            )
    return f"{path or '<top level>'}: {message}"


def _describe_yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
    problem = getattr(exc, "problem", None) or str(exc)
    return f"<yaml> {where}: {problem}"


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that rejects duplicate keys, which plain YAML silently lets win last."""


def _construct_unique_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)
        if key in mapping:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_unique_mapping,
)

"""The README's and docs' examples stay true: every config example is a valid policy, and every
`residency-gateway` command they show parses with the CLI as it is (a renamed flag fails here).

Commands are taken from shell blocks (sh, bash, shell, console), from lines written as a prompt
(`$ residency-gateway ...`) in any block, and from `$(residency-gateway ...)`; outputs shown in
plain blocks aren't commands. Commands that need a broker or a cluster are parsed, not run; the
offline ones that matter run in their own tests (test_explain, test_cli_behaviour, test_kubernetes).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.config import parse_config
from streams.config.schema import GatewayConfig
from tests.unit.test_compose import _parse

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"```([a-z]*)\n(.*?)```", re.S)
_SHELL = {"sh", "bash", "shell", "console"}
_SUBSHELL = re.compile(r"\$\((residency-gateway[^)]*)\)")
_VARIABLE = re.compile(r"^[A-Z_][A-Z0-9_]*=")


def _blocks(kinds: set[str] | None = None) -> list[tuple[str, int, str, str]]:
    """(page, line, language, text) of every fenced block, optionally of some languages."""
    found = []
    for page in PAGES:
        text = page.read_text()
        for match in _FENCE.finditer(text):
            language = match.group(1)
            if kinds is None or language in kinds:
                found.append((page.name, text[: match.start()].count("\n") + 1, language, match.group(2)))
    return found


def _config_examples() -> list[tuple[str, int, dict[str, Any]]]:
    fields = set(GatewayConfig.model_fields)
    examples = []
    for page, line, _language, text in _blocks({"yaml", "yml"}):
        document = yaml.safe_load(text)
        if isinstance(document, dict) and set(document) <= fields:
            examples.append((page, line, document))
    return examples


def _merged(base: Any, change: Any) -> Any:
    if isinstance(base, dict) and isinstance(change, dict):
        return {**base, **{key: _merged(base.get(key), value) for key, value in change.items()}}
    return change


@pytest.mark.parametrize(("page", "line", "language", "text"), _blocks({"yaml", "yml"}), ids=lambda v: str(v))
def test_every_yaml_example_is_yaml(page: str, line: int, language: str, text: str) -> None:
    yaml.safe_load(text)


def test_every_config_example_is_a_valid_policy_on_top_of_the_shipped_one() -> None:
    base = yaml.safe_load((ROOT / "config" / "policy.yaml").read_text())
    examples = _config_examples()
    assert len(examples) >= 5  # the docs show several; none may silently stop being found
    for page, line, example in examples:
        # A fragment (a destination, a region's transfers) is read as a change to the shipped policy.
        parse_config(yaml.safe_dump(_merged(base, example)), source=f"{page}:{line}")


def _commands() -> list[tuple[str, int, list[str]]]:
    commands = []
    for page, line, language, text in _blocks():
        for number, raw in enumerate(text.replace("\\\n", " ").splitlines(), start=line + 1):
            stripped = raw.strip()
            shell = language in _SHELL or stripped.startswith("$ ")
            stripped = re.sub(r"\s+#.*$", "", stripped.removeprefix("$ "))
            pieces = [inner for inner in _SUBSHELL.findall(stripped)]
            if shell:
                pieces += re.split(r"\|\||&&|\||;", _SUBSHELL.sub("X", stripped))
            for piece in pieces:
                try:
                    words = shlex.split(piece.replace("$region", "eu"))
                except ValueError:  # a piece of a line split at `|` inside quotes: not a command of ours
                    assert not piece.strip().startswith("residency-gateway"), f"{page}:{number}: {piece}"
                    continue
                while words and _VARIABLE.match(words[0]):
                    words.pop(0)
                words = [word for word in words if not re.match(r"^\d?>", word)]  # redirections
                if words and words[0].endswith("residency-gateway"):
                    commands.append((page, number, words[1:]))
    return commands


def test_every_documented_command_parses_with_the_cli() -> None:
    commands = _commands()
    assert len(commands) >= 15
    for page, line, args in commands:
        _parse(args, f"{page}:{line}")  # a click UsageError names the flag or command that is wrong

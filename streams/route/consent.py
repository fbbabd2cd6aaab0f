"""Whether an event's consent grants a destination's purpose.

Each format reads its collector's consent into one `Consent` (`CollectorFormat.consent`;
docs/consent.md has the shapes and their sources); `ConsentGate` says whether it grants a
purpose. Consent the gateway can't read never grants.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from streams.formats.consent import Consent
from streams.formats.registry import FORMATS_BY_NAME


class ConsentGate:
    """Whether an event's consent lets a copy go to a destination of a given purpose."""

    __slots__ = ("_allow_absent", "_categories")

    def __init__(
        self, purposes: Mapping[str, Mapping[str, Sequence[str]]], when_absent: Literal["allow", "deny"]
    ) -> None:
        """purposes: purpose name -> format name -> the collector's category names that grant it.

        Matching is case-insensitive. A format with no categories listed for a purpose (or not
        listed) treats the purpose as ungated for that format: the collector can't express it.
        Raises ValueError listing every mistake with its path.
        """
        problems: list[str] = []
        if when_absent not in ("allow", "deny"):
            problems.append(f"when_absent: {when_absent!r} must be 'allow' or 'deny'")
        table: dict[str, dict[str, frozenset[str]]] = {}
        for purpose, formats in purposes.items():
            if not isinstance(formats, Mapping):
                problems.append(f"purposes.{purpose}: must map collector formats to category names")
                continue
            table[purpose] = {}
            for format_name, categories in formats.items():
                where = f"purposes.{purpose}.{format_name}"
                if format_name not in FORMATS_BY_NAME:
                    problems.append(
                        f"{where}: {format_name!r} is not a collector format ({', '.join(FORMATS_BY_NAME)})"
                    )
                if isinstance(categories, str) or not isinstance(categories, Sequence):
                    problems.append(
                        f"{where}: must be a list of category names (got {type(categories).__name__})"
                    )
                    continue
                for index, category in enumerate(categories):
                    if not isinstance(category, str) or not category.strip():
                        problems.append(f"{where}[{index}]: {category!r} is not a category name")
                table[purpose][format_name] = frozenset(
                    category.lower() for category in categories if isinstance(category, str)
                )
        if problems:
            raise ValueError("consent settings: " + "; ".join(problems))
        self._categories = table
        self._allow_absent = when_absent == "allow"

    def allows(self, purpose: str, format_name: str, consent: Consent | None) -> bool:
        """True when the destination's purpose may receive the event.

        Ungated (no categories for this format) -> True; consent None -> when_absent == "allow";
        otherwise granted if ANY mapped category is in consent.granted and NONE is in consent.denied
        (fail closed on contradiction). A category mentioned nowhere in the consent is not granted.
        A purpose the gate doesn't know is refused: a misspelt purpose must not open a destination.
        """
        formats = self._categories.get(purpose)
        if formats is None:
            return False
        categories = formats.get(format_name)
        if not categories:
            return True
        if consent is None:
            return self._allow_absent
        return not categories.isdisjoint(consent.granted) and categories.isdisjoint(consent.denied)

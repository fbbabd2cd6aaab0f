"""Route: turn a decision into a plan of the records to write, with consent and erasure decided.

`Router.route` is pure and writes no bytes: which topics get a record for the event,
each under which rules, with which headers, and which destinations its consent
withholds or its subject's erasure suppresses. The transform stage
(streams/transform/records.py) then makes each planned record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from streams.audit import looks_generated
from streams.classify.jurisdiction import Decision
from streams.config import DEFAULT_PURPOSES, FULL, Destination, GatewayConfig
from streams.formats.base import CollectorFormat, PayloadError
from streams.formats.consent import Consent
from streams.formats.exact_json import write_json
from streams.keys.ring import KeyRing
from streams.outcomes import Headers, Outcome, policy_version_header
from streams.route.consent import ConsentGate
from streams.subjects.store import SubjectKeys
from streams.transform.export import ExportCopier
from streams.transform.identities import OwnValue, own_ids, subject_of
from streams.transform.personal import PersonalTransforms
from streams.transform.value_scan import ScanBudget, ValueScanner

ConsentPurposes = Mapping[str, Mapping[str, Sequence[str]]]


class PlannedRecord(NamedTuple):
    """One record a decided event gets: which topic, for whom, under which rules, made by what."""

    topic: str
    to: str  # the region, for its home topic; the destination's name, for a copy
    outcome: Outcome  # ROUTED (the home topic's record) or EXPORTED (a destination's copy)
    rules: str  # the field rules it is made under, or FULL: the event as it came
    copier: ExportCopier | None  # None: the event as it came


class RoutePlan(NamedTuple):
    """Where a decided event goes: no byte of it written yet."""

    outcome: Outcome  # ROUTED, or SUPPRESSED: an erased subject's event, under erasure.after: suppress
    region: str
    reason: str
    records: list[PlannedRecord]  # the home topic's first; none when suppressed
    withheld: list[str]  # destinations the event's consent keeps it from
    headers: Headers  # every record's: the region, the policy version, the decision
    subject: str | None  # the subject whose keys tokens are made under, when the rules need one
    country: str | None  # where a phone number written without its country code is read


@dataclass(frozen=True, slots=True)
class _Transfer:
    destination: str
    purpose: str | None
    record: PlannedRecord
    erased: PlannedRecord  # an erased subject's copy, under the erasure rules, when the policy pseudonymizes


@dataclass(frozen=True, slots=True)
class _RegionPlan:
    headers: Headers
    home: PlannedRecord  # the home topic's record: the event as it came, or under the region's home rules
    erased_home: PlannedRecord  # an erased subject's, under the erasure rules, when the policy pseudonymizes
    transfers: tuple[_Transfer, ...]
    needs_subject: bool
    phone_country: str | None  # national phone numbers are read in this country when the event names none


class Router:
    """Writes each decided event to its home topic and to the destinations its region transfers to."""

    def __init__(self, config: GatewayConfig, keys: KeyRing, subjects: SubjectKeys) -> None:
        self._keys = keys
        self._subjects = subjects
        self._suppress_erased = config.erasure.after == "suppress"
        configured = config.consent.purposes
        purposes = DEFAULT_PURPOSES if configured is None else cast(ConsentPurposes, configured)
        self._gate = ConsentGate(purposes, config.consent.when_absent)
        version = policy_version_header(config)
        rules = config.field_rules
        scanner = self._scanner = ValueScanner()
        self._transforms: list[PersonalTransforms] = []

        def copier(
            region: str, rules_name: str, destination: Destination | None = None, *, erased: bool = False
        ) -> ExportCopier:
            transforms = PersonalTransforms(
                rules[rules_name], region, keys, subjects, tokenize_as_pseudonymize=erased
            )
            self._transforms.append(transforms)
            if destination is None:  # the home topic: in the region, so it keeps what it doesn't transform
                return ExportCopier(
                    transforms, {}, scanner, unknown_fields="scan", path_rules=rules[rules_name].paths
                )
            return ExportCopier(
                transforms,
                destination.keep_paths(),
                scanner,
                unknown_fields=destination.unknown_fields,
                path_rules=rules[rules_name].paths,
            )

        # Per-region constants, so the hot path only looks them up.
        self._regions: dict[str, _RegionPlan] = {}
        # Each region's pseudonyms for an event id the audit can't carry as it is (audit_id).
        self._event_ids: dict[str, PersonalTransforms] = {}
        erasure_rules = config.erasure.rules
        for name, region in config.regions.items():
            home = None if region.home == FULL else copier(name, region.home)
            transfers = []
            for destination, rules_name in region.transfers.items():
                target = config.destinations[destination]
                made = copier(name, rules_name, target)
                record = PlannedRecord(target.topic, destination, Outcome.EXPORTED, rules_name, made)
                # An erased subject's copy is made under the erasure rules; the audit names the transfer's.
                erased = record._replace(copier=copier(name, erasure_rules, target, erased=True))
                transfers.append(_Transfer(destination, target.purpose, record, erased))
            copiers = [home, *(transfer.record.copier for transfer in transfers)]
            erased_home = copier(name, erasure_rules, erased=True)
            self._regions[name] = _RegionPlan(
                [("rg-region", name.encode()), version],
                PlannedRecord(region.topic, name, Outcome.ROUTED, region.home, home),
                PlannedRecord(region.topic, name, Outcome.ROUTED, erasure_rules, erased_home),
                tuple(transfers),
                any(c is not None and c.needs_subject for c in copiers),
                config.phone_country(name),
            )
            self._event_ids[name] = erased_home.transforms

    def set_keys(self, keys: KeyRing) -> None:
        """Use a reloaded key ring (a rotation) from the next event on."""
        self._keys = keys
        for transforms in self._transforms:
            transforms.set_keys(keys)

    def route(self, decision: Decision, body: dict[str, Any], collector: CollectorFormat) -> RoutePlan:
        """The records a decided event gets, with its subject's erasure and its consent applied."""
        region = decision.region
        assert region is not None
        plan = self._regions[region]
        headers = [*plan.headers, *decision.headers]
        reason = decision.reason
        subjects = self._subjects
        subject = None
        erased = False
        if plan.needs_subject or subjects.any_erased():
            subject = subject_of(body, collector)
            erased = subject is not None and subjects.is_erased(region, subject, self._keys)
        if erased:
            reason += "; subject erased"
            if self._suppress_erased:
                return RoutePlan(Outcome.SUPPRESSED, region, reason, [], [], headers, subject, None)
        records = [plan.erased_home if erased else plan.home]
        withheld: list[str] = []
        consent: Consent | None = None
        consent_read = False
        for transfer in plan.transfers:
            if transfer.purpose is not None:
                if not consent_read:
                    consent, consent_read = collector.consent(body), True
                if not self._gate.allows(transfer.purpose, collector.name, consent):
                    withheld.append(transfer.destination)
                    continue
            records.append(transfer.erased if erased else transfer.record)
        # A phone number written without its country code is read in the event's own country.
        country = decision.country or plan.phone_country
        return RoutePlan(_ROUTED, region, reason, records, withheld, headers, subject, country)

    def audit_id(
        self,
        body: dict[str, Any],
        collector: CollectorFormat,
        region: str | None = None,
        own: tuple[OwnValue, ...] | None = None,
    ) -> str | None:
        """The event's id as the audit topic may carry it: as it is, its pseudonym, or None (coordinates).

        The audit topic is read outside the event's region, and an app may put anything in its
        event id: one without a generated id's shape (`looks_generated`: a name, a handle) or one
        the value scan flags (an email, a phone, base64 of an email, the event's own user id or
        name) is written as its pseudonym when the event has a region, and as the event's
        coordinates otherwise. Copies treat their id field the same way (Treat.EVENT_ID).
        """
        event_id = collector.event_id(body)
        if event_id is None:
            return None
        if own is None:  # no copy gathered them: read the id fields and traits
            try:
                own = own_ids(collector.expanded(body), collector)  # Snowplow's entities decoded
            except PayloadError:  # what can't be read can't be checked: the id leaves as its pseudonym
                return None if region is None else self._event_ids[region].pseudonym(event_id, "event_id")
        if _UUID.fullmatch(event_id) is not None:
            # Most collectors' ids: a UUID holds nothing a pattern could find, only maybe one of
            # this event's own values (an anonymous id reused as the event id).
            lowered = event_id.lower()
            if not any(lowered == value.lower() for _, value in own):
                return event_id
        elif looks_generated(event_id):
            cleaned, _found = self._scanner.clean(event_id, _flagged, own, ScanBudget(), None)
            if cleaned is event_id:
                return event_id
        if region is None:
            return None
        return self._event_ids[region].pseudonym(event_id, "event_id")


def item_bytes(item: Any) -> bytes | None:
    """A batch item on its own, for the dead-letter topic; None if it nests deeper than orjson writes.

    It used to return the item's type name instead, which lost the item: the caller now keeps
    the whole payload for it.
    """
    try:
        return write_json(item)  # exact: an integer past 64 bits keeps its digits
    except TypeError:
        return None


_ROUTED = Outcome.ROUTED  # an enum member looked up on its class costs ~120 ns; per event, once is enough
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _flagged(kind: str, value: str) -> str:
    return "?"  # any finding at all: the id isn't written as it is

"""Turn a decision into the records to write: which topics, which form, which headers."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from streams.audit import AuditedOutput, AuditEntry, CopyReport, looks_generated
from streams.config import FULL, Destination, GatewayConfig
from streams.consent import DEFAULT_PURPOSES, Consent, ConsentGate, consent_of
from streams.export import ExportCopier
from streams.formats.base import CollectorFormat, PayloadError
from streams.formats.exact_json import write_json
from streams.identities import OwnValue, own_ids, subject_of
from streams.jurisdiction import Decision
from streams.keys import KeyRing
from streams.outcomes import Headers, Outcome, Output, policy_version_header
from streams.personal import PersonalTransforms
from streams.subject_keys import SubjectKeys
from streams.value_scan import ScanBudget, ValueScanner

ConsentPurposes = Mapping[str, Mapping[str, Sequence[str]]]


@dataclass(frozen=True, slots=True)
class _Transfer:
    destination: str
    topic: str
    purpose: str | None
    rules: str
    copier: ExportCopier
    erased: ExportCopier  # an erased subject's copy, under the erasure rules, when the policy pseudonymizes


@dataclass(frozen=True, slots=True)
class _RegionPlan:
    topic: str
    headers: Headers
    home: ExportCopier | None  # None: the event as it came
    home_rules: str
    transfers: tuple[_Transfer, ...]
    erased_home: (
        ExportCopier  # the home topic's copy of an erased subject's event, when the policy pseudonymizes
    )
    needs_subject: bool
    phone_country: str | None  # national phone numbers are read in this country when the event names none


class Router:
    """Writes each decided event to its home topic and to the destinations its region transfers to."""

    def __init__(self, config: GatewayConfig, keys: KeyRing, subjects: SubjectKeys) -> None:
        self._keys = keys
        self._subjects = subjects
        self._suppress_erased = config.erasure.after == "suppress"
        self._erasure_rules = config.erasure.rules
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
        erasure_rules = config.erasure.rules
        for name, region in config.regions.items():
            home = None if region.home == FULL else copier(name, region.home)
            transfers = tuple(
                _Transfer(
                    destination,
                    config.destinations[destination].topic,
                    config.destinations[destination].purpose,
                    rules_name,
                    copier(name, rules_name, config.destinations[destination]),
                    copier(name, erasure_rules, config.destinations[destination], erased=True),
                )
                for destination, rules_name in region.transfers.items()
            )
            needs_subject = any(t.copier.needs_subject for t in transfers) or bool(
                home and home.needs_subject
            )
            self._regions[name] = _RegionPlan(
                region.topic,
                [("rg-region", name.encode()), version],
                home,
                region.home,
                transfers,
                copier(name, erasure_rules, erased=True),
                needs_subject,
                config.phone_country(name),
            )

    def set_keys(self, keys: KeyRing) -> None:
        """Use a reloaded key ring (a rotation) from the next event on."""
        self._keys = keys
        for transforms in self._transforms:
            transforms.set_keys(keys)

    def routed(
        self,
        decision: Decision,
        body: dict[str, Any],
        raw: bytes | None,
        collector: CollectorFormat,
        envelope: dict[str, Any],
        key: bytes | None,
        budget: ScanBudget | None = None,
    ) -> tuple[list[Output], AuditEntry]:
        region = decision.region
        assert region is not None
        plan = self._regions[region]
        headers = [*plan.headers, *decision.headers]
        audit = AuditEntry(Outcome.ROUTED, region, decision.reason, None, collector.name)
        subjects = self._subjects
        subject = None
        erased = False
        if plan.needs_subject or subjects.any_erased():
            subject = subject_of(body, collector)
            erased = subject is not None and subjects.is_erased(region, subject, self._keys)
        if erased and self._suppress_erased:
            audit.outcome = Outcome.SUPPRESSED
            audit.reason += "; subject erased"
            audit.event_id = self.audit_id(body, collector, plan)
            return [], audit
        # A phone number written without its country code is read in the event's own country.
        country = decision.country or plan.phone_country
        outputs: list[Output] = []
        if erased:
            audit.reason += "; subject erased"
            value, report = plan.erased_home.apply(body, collector, envelope, subject, country, budget)
            outputs.append(Output(plan.topic, value, region, Outcome.ROUTED, headers, key))
            audit.outputs.append(_audited(plan.topic, self._erasure_rules, report, listed=False))
            audit.key_version = report.key_version
        elif plan.home is None:
            value = raw if raw is not None else collector.encode(body, envelope)
            outputs.append(Output(plan.topic, value, region, Outcome.ROUTED, headers, key))
            audit.outputs.append(AuditedOutput(plan.topic, FULL))
        else:
            value, report = plan.home.apply(body, collector, envelope, subject, country, budget)
            outputs.append(Output(plan.topic, value, region, Outcome.ROUTED, headers, key))
            audit.outputs.append(_audited(plan.topic, plan.home_rules, report, listed=False))
            audit.key_version = report.key_version
        consent: Consent | None = None
        consent_read = False
        own: tuple[OwnValue, ...] | None = None
        for transfer in plan.transfers:
            if transfer.purpose is not None:
                if not consent_read:
                    consent, consent_read = consent_of(collector.name, body), True
                if not self._gate.allows(transfer.purpose, collector.name, consent):
                    audit.withheld.append(transfer.destination)
                    continue
            copier = transfer.erased if erased else transfer.copier
            value, report = copier.apply(body, collector, envelope, subject, country, budget)
            # The input key may be a user id, so a copy leaves without it.
            outputs.append(Output(transfer.topic, value, transfer.destination, Outcome.EXPORTED, headers))
            audit.outputs.append(_audited(transfer.topic, transfer.rules, report, listed=True))
            audit.key_version = report.key_version
            own = report.own
        # The event's own values, as its copy gathered them, tell whether its id may be audited as it is.
        audit.event_id = self.audit_id(body, collector, plan, own)
        return outputs, audit

    def audit_id(
        self,
        body: dict[str, Any],
        collector: CollectorFormat,
        plan: _RegionPlan | None = None,
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
                return None if plan is None else plan.erased_home.transforms.pseudonym(event_id, "event_id")
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
        if plan is None:
            return None
        return plan.erased_home.transforms.pseudonym(event_id, "event_id")


def item_bytes(item: Any) -> bytes | None:
    """A batch item on its own, for the dead-letter topic; None if it nests deeper than orjson writes.

    It used to return the item's type name instead, which lost the item: the caller now keeps
    the whole payload for it.
    """
    try:
        return write_json(item)  # exact: an integer past 64 bits keeps its digits
    except TypeError:
        return None


def _audited(topic: str, rules: str, report: CopyReport, *, listed: bool) -> AuditedOutput:
    # A copy that leaves lists what its allowlist dropped; a home copy keeps what it doesn't transform.
    dropped = report.dropped if listed or report.dropped else None
    return AuditedOutput(topic, rules, report.fields, report.found_in_text, dropped, report.dropped_more)


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _flagged(kind: str, value: str) -> str:
    return "?"  # any finding at all: the id isn't written as it is

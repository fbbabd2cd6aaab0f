"""Transform: make each record a route plan names, and the audit entry that says how each was made.

A planned record is the event as it came (its raw bytes when it came alone), or a copy
made by its copier (streams/transform/export.py): the home topic's under the region's home rules,
a destination's default-deny under its allowlist. What each copy kept, transformed and
dropped goes into the audit entry; field paths and counts, never values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streams.audit import AuditedOutput, AuditEntry, CopyReport
from streams.config import FULL
from streams.formats.base import CollectorFormat, get_path
from streams.outcomes import Outcome, Output
from streams.transform.identities import OwnValue
from streams.transform.personal import PersonalTransforms
from streams.transform.value_scan import ScanBudget

if TYPE_CHECKING:
    from streams.route.plan import RoutePlan


def transform(
    plan: RoutePlan,
    body: dict[str, Any],
    raw: bytes | None,
    collector: CollectorFormat,
    envelope: dict[str, Any],
    key: bytes | None,
    budget: ScanBudget,
) -> tuple[list[Output], AuditEntry, tuple[OwnValue, ...] | None]:
    """The plan's records, their audit entry, and the event's own values as its last copy gathered them
    (None when no copy left the region), which tell whether its id may be audited as it is."""
    entry = AuditEntry(plan.outcome, plan.region, plan.reason, None, collector.name, withheld=plan.withheld)
    outputs: list[Output] = []
    own: tuple[OwnValue, ...] | None = None
    headers = plan.headers
    for record in plan.records:
        copier = record.copier
        if copier is None:
            value = raw if raw is not None else collector.encode(body, envelope)
            outputs.append(Output(record.topic, value, record.to, record.outcome, headers, key))
            entry.outputs.append(AuditedOutput(record.topic, FULL))
            continue
        value, report = copier.apply(body, collector, envelope, plan.subject, plan.country, budget)
        entry.key_version = report.key_version
        exported = record.outcome is _EXPORTED
        # The input key may be a user id: a copy leaves without it, keyed by its subject's pseudonym
        # when the copy itself carries that pseudonym (so one user's copies keep their order).
        kept_key = copy_key(body, collector, copier.transforms, value) if exported else key
        outputs.append(Output(record.topic, value, record.to, record.outcome, headers, kept_key))
        entry.outputs.append(_audited(record.topic, record.rules, report, listed=exported))
        if exported:
            own = report.own
    return outputs, entry, own


_EXPORTED = Outcome.EXPORTED  # an enum member looked up on its class costs ~120 ns


def _audited(topic: str, rules: str, report: CopyReport, *, listed: bool) -> AuditedOutput:
    # A copy that leaves lists what its allowlist dropped; a home copy keeps what it doesn't transform.
    dropped = report.dropped if listed or report.dropped else None
    return AuditedOutput(topic, rules, report.fields, report.found_in_text, dropped, report.dropped_more)


def copy_key(
    body: dict[str, Any], collector: CollectorFormat, transforms: PersonalTransforms, copy: bytes
) -> bytes | None:
    """A copy's Kafka key: the pseudonym of the event's user id (else its anonymous id), if and only
    if the copy already carries exactly that pseudonym. Stable per subject, region and key version,
    so one subject's copies land in one partition in order; and the key tells a reader nothing the
    copy doesn't: where the destination's allowlist drops the id, or tokenizes it, there is no key.
    """
    personal = collector.personal
    for path in (*personal.user_id, *personal.anonymous_id):
        value = get_path(body, path)
        if value is None or value.__class__ not in (str, int) or value == "":
            continue
        pseudonym = transforms.pseudonym(value, "user_id").encode()
        if pseudonym in copy:
            return pseudonym
    return None

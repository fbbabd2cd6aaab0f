"""Bring a broker's ACLs in line with a plan (streams.kafka.access): create what's missing, list the rest."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._acl import AclBinding, AclBindingFilter, AclOperation, AclPermissionType
from confluent_kafka.admin._resource import ResourcePatternType, ResourceType

from streams.kafka.access import Grant

_RESOURCES = {
    "topic": ResourceType.TOPIC,
    "group": ResourceType.GROUP,
    "transactional_id": ResourceType.TRANSACTIONAL_ID,
    "cluster": ResourceType.BROKER,  # confluent-kafka's name for Kafka's cluster resource
}
_OPERATIONS = {
    "read": AclOperation.READ,
    "write": AclOperation.WRITE,
    "describe": AclOperation.DESCRIBE,
    "create": AclOperation.CREATE,
    "idempotent_write": AclOperation.IDEMPOTENT_WRITE,
}
_PATTERNS = {"literal": ResourcePatternType.LITERAL, "prefixed": ResourcePatternType.PREFIXED}
_ANY_HOST = "*"


@dataclass(frozen=True)
class AclChanges:
    granted: list[Grant]
    unchanged: list[Grant]
    # ACLs the plan's principals hold beyond the plan, described; left in place for a person to judge.
    extra: list[str]


def apply_acls(admin: AdminClient, grants: list[Grant], timeout: float = 30.0) -> AclChanges:
    """Create every planned ACL the broker lacks; re-running with the same plan changes nothing."""
    planned = {_binding(grant): grant for grant in grants}
    present = _existing(admin, sorted({grant.principal for grant in grants}), timeout)
    missing = [binding for binding in planned if binding not in present]
    if missing:
        for future in admin.create_acls(missing, request_timeout=timeout).values():
            future.result()
    return AclChanges(
        granted=[planned[binding] for binding in missing],
        unchanged=[grant for binding, grant in planned.items() if binding in present],
        extra=sorted(_describe(binding) for binding in present if binding not in planned),
    )


def _binding(grant: Grant) -> AclBinding:
    return AclBinding(
        _RESOURCES[grant.resource],
        grant.name,
        _PATTERNS[grant.pattern],
        grant.principal,
        _ANY_HOST,
        _OPERATIONS[grant.operation],
        AclPermissionType.ALLOW,
    )


def _existing(admin: AdminClient, principals: list[str], timeout: float) -> set[AclBinding]:
    found: set[AclBinding] = set()
    for principal in principals:
        # None matches any resource name and any host; the stubs type them as str.
        every = AclBindingFilter(
            ResourceType.ANY,
            None,  # type: ignore[arg-type]
            ResourcePatternType.ANY,
            principal,
            None,  # type: ignore[arg-type]
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
        found.update(admin.describe_acls(every, request_timeout=timeout).result())
    return found


def _describe(binding: AclBinding) -> str:
    prefixed = "*" if binding.resource_pattern_type == ResourcePatternType.PREFIXED else ""
    return (
        f"{binding.principal} {_name(binding.permission_type)} {_name(binding.operation)} "
        f"{_name(binding.restype).lower()} {binding.name}{prefixed} (host {binding.host})"
    )


def _name(value: object) -> str:
    # The stubs allow str or int here; described bindings always carry the enums.
    return str(getattr(value, "name", value))

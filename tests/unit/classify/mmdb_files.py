"""Small MaxMind-format country databases written in tests, with the mmdb-writer package."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter
from netaddr import IPSet


def write_country_db(path: Path, networks: dict[str, str | dict[str, Any]]) -> Path:
    """An IPv6 (IPv4-compatible) GeoIP2-Country-style database: {cidr: ISO code or whole record}."""
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-Country")
    for cidr, record in networks.items():
        content = {"country": {"iso_code": record}} if isinstance(record, str) else record
        writer.insert_network(IPSet([cidr]), content)
    writer.to_db_file(str(path))
    return path

"""TLS for the secured local broker: a development CA, the broker's certificate, and client certificates.

Everything is made with the `cryptography` package when the broker starts, in its state directory:
nothing is checked in, nothing is fetched. The CA signs the broker's certificate (for 127.0.0.1 and
localhost) and any client certificate a test or a developer asks for (`broker cert NAME`). A client
certificate's subject is `CN=<name>`; the broker maps it to the principal `User:<name>`, so the ACLs
that `topics apply` grants a SASL user hold for the same name over mTLS.

These are development keys for a broker on 127.0.0.1: the CA's key lies next to it unencrypted.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_DIRECTORY = "tls"
_CA_NAME = "residency-gateway local broker CA (development only)"
_VALIDITY = datetime.timedelta(days=825)


@dataclass(frozen=True)
class ClientCertificate:
    """A client's PEM files: what librdkafka's ssl.certificate.location / ssl.key.location name."""

    certificate: Path
    key: Path
    key_password: str | None  # None: the key is not encrypted


def directory(state: Path) -> Path:
    return state / _DIRECTORY


def ca_path(state: Path) -> Path:
    """The CA bundle clients verify the broker with (librdkafka's ssl.ca.location)."""
    return directory(state) / "ca.pem"


def broker_keystore(state: Path) -> Path:
    """The broker's key and certificate chain in one PEM file (Kafka's ssl.keystore.type=PEM)."""
    ensure_broker_certificate(state)
    return directory(state) / "broker.pem"


def ensure_broker_certificate(state: Path) -> None:
    """Make the CA and the broker's certificate once per state directory."""
    folder = directory(state)
    if (folder / "broker.pem").exists() and ca_path(state).exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _CA_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    ca_certificate = (
        x509.CertificateBuilder()
        .subject_name(ca_subject)
        .issuer_name(ca_subject)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(folder / "ca.key", _key_pem(ca_key, None))
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    broker_key, broker_certificate = _issue(ca_key, ca_certificate, "localhost", names, server=True)
    _write_private(folder / "broker.pem", _key_pem(broker_key, None) + _certificate_pem(broker_certificate))
    ca_path(state).write_bytes(_certificate_pem(ca_certificate))


def issue_client_certificate(state: Path, name: str, key_password: str | None = None) -> ClientCertificate:
    """A certificate for `name` (principal User:<name>) signed by the broker's CA, its key encrypted
    with `key_password` when one is given. Issuing again for the same name replaces the files."""
    if not name or any(character in name for character in ',=+/\\"<>;#\n'):
        raise ValueError(f"a client certificate name must be a plain user name, not {name!r}")
    ensure_broker_certificate(state)
    folder = directory(state)
    ca_key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca_certificate = x509.load_pem_x509_certificate(ca_path(state).read_bytes())
    key, certificate = _issue(ca_key, ca_certificate, name, [], server=False)
    certificate_path, key_path = folder / f"client-{name}.pem", folder / f"client-{name}.key"
    certificate_path.write_bytes(_certificate_pem(certificate))
    _write_private(key_path, _key_pem(key, key_password))
    return ClientCertificate(certificate_path, key_path, key_password)


def _issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_certificate: x509.Certificate,
    common_name: str,
    names: list[x509.GeneralName],
    *,
    server: bool,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def _key_pem(key: ec.EllipticCurvePrivateKey, password: str | None) -> bytes:
    # PKCS#8: the one private-key encoding both Kafka's PEM keystore and OpenSSL read.
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption()
        if password is None
        else serialization.BestAvailableEncryption(password.encode())
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _write_private(path: Path, content: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(content)

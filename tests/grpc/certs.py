"""Certificates made at test time (cryptography): a CA, a server certificate for 127.0.0.1 and
localhost, a client certificate it signed, and a client certificate from a CA nobody trusts."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Certs", "make_certs"]


@dataclass(frozen=True)
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path   # signed by another CA
    stranger_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def _issue(subject: str, key, issuer_name: x509.Name, issuer_key, *, ca: bool = False,
           server: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def make_certs(folder: Path) -> Certs:
    keys = {name: ec.generate_private_key(ec.SECP256R1()) for name in ("ca", "server", "client", "other", "stranger")}
    ca = _issue("trimwire test CA", keys["ca"], _name("trimwire test CA"), keys["ca"], ca=True)
    other = _issue("untrusted CA", keys["other"], _name("untrusted CA"), keys["other"], ca=True)
    return Certs(
        ca=_pem(ca, folder / "ca.pem"),
        server_cert=_pem(_issue("trimwire", keys["server"], ca.subject, keys["ca"], server=True), folder / "server.pem"),
        server_key=_write_key(keys["server"], folder / "server.key"),
        client_cert=_pem(_issue("envoy-gateway", keys["client"], ca.subject, keys["ca"]), folder / "client.pem"),
        client_key=_write_key(keys["client"], folder / "client.key"),
        stranger_cert=_pem(_issue("stranger", keys["stranger"], other.subject, keys["other"]), folder / "stranger.pem"),
        stranger_key=_write_key(keys["stranger"], folder / "stranger.key"),
    )

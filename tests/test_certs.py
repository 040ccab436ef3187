"""Self-signed certificates: what is made, how it is written, and a real TLS handshake with it."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from flask_tgwebhook.certs import (
    SelfSignedCert,
    check_certificate,
    generate_self_signed_cert,
    load_certificate,
)


@pytest.fixture(scope="module")
def ip_cert() -> SelfSignedCert:
    return generate_self_signed_cert("127.0.0.1")


@pytest.fixture(scope="module")
def dns_cert() -> SelfSignedCert:
    return generate_self_signed_cert("localhost", days=30)


def _written(cert: SelfSignedCert, directory: Path) -> tuple[Path, Path]:
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert.write(cert_path, key_path)
    return cert_path, key_path


# --- what is made ------------------------------------------------------------------------


def test_ip_certificate_fields(ip_cert: SelfSignedCert) -> None:
    cert = x509.load_pem_x509_certificate(ip_cert.cert_pem)
    key = serialization.load_pem_private_key(ip_cert.key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "127.0.0.1"
    assert cert.issuer == cert.subject
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert san.get_values_for_type(x509.DNSName) == []
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.value.ca is True and basic.critical


def test_dns_certificate_fields_and_validity(dns_cert: SelfSignedCert, tmp_path: Path) -> None:
    cert_path, _ = _written(dns_cert, tmp_path)
    info = load_certificate(cert_path)
    assert info.dns_names == ("localhost",)
    assert info.ip_addresses == ()
    assert info.common_name == "localhost"
    assert dt.timedelta(days=29) < info.not_after - info.not_before <= dt.timedelta(days=31)
    assert info.self_signed


def test_larger_key_size() -> None:
    cert = generate_self_signed_cert("example.com", key_size=3072)
    key = serialization.load_pem_private_key(cert.key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 3072


@pytest.mark.parametrize(
    "host", ["https://example.com", "example.com/path", "example.com:8443", ""]
)
def test_refuses_what_is_not_a_host(host: str) -> None:
    with pytest.raises(ValueError, match="host"):
        generate_self_signed_cert(host)


def test_refuses_bad_days_and_key_size() -> None:
    with pytest.raises(ValueError, match="days"):
        generate_self_signed_cert("example.com", days=0)
    with pytest.raises(ValueError, match="2048"):
        generate_self_signed_cert("example.com", key_size=1024)


def test_ipv6_host_gets_an_ip_san() -> None:
    cert = x509.load_pem_x509_certificate(generate_self_signed_cert("[::1]").cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["::1"]


def test_key_not_in_repr(ip_cert: SelfSignedCert) -> None:
    assert b"PRIVATE KEY" in ip_cert.key_pem
    assert "PRIVATE" not in repr(ip_cert)


# --- writing -----------------------------------------------------------------------------


def test_write_modes_and_contents(ip_cert: SelfSignedCert, tmp_path: Path) -> None:
    cert_path, key_path = _written(ip_cert, tmp_path)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert_path.stat().st_mode) == 0o644
    assert key_path.read_bytes() == ip_cert.key_pem
    assert cert_path.read_bytes() == ip_cert.cert_pem


def test_write_refuses_to_overwrite(ip_cert: SelfSignedCert, tmp_path: Path) -> None:
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(b"old cert")
    with pytest.raises(FileExistsError, match="overwrite=True") as info:
        ip_cert.write(cert_path, key_path)
    assert "--force" in str(info.value)
    assert cert_path.read_bytes() == b"old cert"
    assert not key_path.exists()  # nothing half-written


def test_write_refuses_existing_key(ip_cert: SelfSignedCert, tmp_path: Path) -> None:
    key_path = tmp_path / "key.pem"
    key_path.write_bytes(b"old key")
    with pytest.raises(FileExistsError):
        ip_cert.write(tmp_path / "cert.pem", key_path)
    assert key_path.read_bytes() == b"old key"
    assert not (tmp_path / "cert.pem").exists()


def test_write_overwrite_replaces_and_keeps_key_private(
    ip_cert: SelfSignedCert, tmp_path: Path
) -> None:
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(b"old cert")
    key_path.write_bytes(b"old key")
    key_path.chmod(0o644)
    ip_cert.write(cert_path, key_path, overwrite=True)
    assert key_path.read_bytes() == ip_cert.key_pem
    assert cert_path.read_bytes() == ip_cert.cert_pem
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cert.pem", "key.pem"]  # no temp files


def test_write_refuses_same_path(ip_cert: SelfSignedCert, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="different"):
        ip_cert.write(tmp_path / "both.pem", tmp_path / "both.pem")


# --- loading and checking ----------------------------------------------------------------


def test_load_certificate(ip_cert: SelfSignedCert, tmp_path: Path) -> None:
    cert_path, _ = _written(ip_cert, tmp_path)
    info = load_certificate(cert_path)
    assert info.ip_addresses == ("127.0.0.1",)
    assert info.hosts == ("127.0.0.1",)
    assert info.encoding == "PEM"
    assert info.self_signed
    assert len(info.fingerprint_sha256.split(":")) == 32
    assert info.matches_host("127.0.0.1")
    assert not info.matches_host("127.0.0.2")
    assert not info.matches_host("localhost")


def test_load_refuses_a_key_file(ip_cert: SelfSignedCert, tmp_path: Path) -> None:
    _, key_path = _written(ip_cert, tmp_path)
    with pytest.raises(ValueError, match="not the private key"):
        load_certificate(key_path)


def test_check_finds_nothing_for_a_good_pair(ip_cert: SelfSignedCert, tmp_path: Path) -> None:
    cert_path, key_path = _written(ip_cert, tmp_path)
    assert check_certificate(cert_path, host="127.0.0.1", key_path=key_path) == []


def test_check_expired(ip_cert: SelfSignedCert, tmp_path: Path) -> None:
    cert_path, _ = _written(ip_cert, tmp_path)
    later = load_certificate(cert_path).not_after + dt.timedelta(days=1)
    [problem] = check_certificate(cert_path, now=later)
    assert "expired" in problem and "gen-cert" in problem


def test_check_expires_soon(ip_cert: SelfSignedCert, tmp_path: Path) -> None:
    cert_path, _ = _written(ip_cert, tmp_path)
    soon = load_certificate(cert_path).not_after - dt.timedelta(days=10, hours=1)
    [problem] = check_certificate(cert_path, now=soon)
    assert "expires on" in problem and "in 10 days" in problem


def test_check_not_yet_valid(ip_cert: SelfSignedCert, tmp_path: Path) -> None:
    cert_path, _ = _written(ip_cert, tmp_path)
    earlier = load_certificate(cert_path).not_before - dt.timedelta(days=1)
    [problem] = check_certificate(cert_path, now=earlier.replace(tzinfo=None))
    assert "not valid before" in problem


def test_check_host_mismatch(dns_cert: SelfSignedCert, tmp_path: Path) -> None:
    cert_path, _ = _written(dns_cert, tmp_path)
    problems = check_certificate(cert_path, host="bot.example.com", warn_days=1)
    assert problems == [
        "The certificate is for localhost, not for bot.example.com; make one for that host "
        "with `flask tg gen-cert --host bot.example.com`."
    ]
    assert check_certificate(cert_path, host="LOCALHOST", warn_days=1) == []


def test_check_key_mismatch_and_mode(
    ip_cert: SelfSignedCert, dns_cert: SelfSignedCert, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cert_path, _ = _written(ip_cert, tmp_path / "a")
    _, other_key = _written(dns_cert, tmp_path / "b")
    other_key.chmod(0o640)
    problems = check_certificate(cert_path, key_path=other_key)
    assert len(problems) == 2
    assert "does not belong to the certificate" in problems[0]
    assert "chmod 600" in problems[1]


def test_check_key_file_that_is_not_a_key(ip_cert: SelfSignedCert, tmp_path: Path) -> None:
    cert_path, _ = _written(ip_cert, tmp_path)
    [problem] = check_certificate(cert_path, key_path=cert_path)
    assert "private key" in problem


def test_check_der_certificate(ip_cert: SelfSignedCert, tmp_path: Path) -> None:
    der = x509.load_pem_x509_certificate(ip_cert.cert_pem).public_bytes(serialization.Encoding.DER)
    path = tmp_path / "cert.der"
    path.write_bytes(der)
    assert load_certificate(path).encoding == "DER"
    [problem] = check_certificate(path, host="127.0.0.1")
    assert "PEM" in problem


def test_matches_cn_without_san_and_wildcards(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)

    def make(cn: str, san: list[x509.GeneralName] | None) -> Path:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=90))
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        path = tmp_path / f"{len(list(tmp_path.iterdir()))}.pem"
        path.write_bytes(
            builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
        )
        return path

    # Telegram's openssl recipe: CN only, no SAN.
    cn_only = load_certificate(make("203.0.113.5", None))
    assert cn_only.matches_host("203.0.113.5") and not cn_only.matches_host("203.0.113.6")
    wildcard = load_certificate(make("x", [x509.DNSName("*.example.com")]))
    assert wildcard.matches_host("bot.example.com")
    assert not wildcard.matches_host("example.com")
    assert not wildcard.matches_host("a.b.example.com")
    assert not wildcard.matches_host("x")  # a SAN present means the CN is not used


# --- a real TLS handshake on loopback ----------------------------------------------------


@contextmanager
def tls_server(cert_path: Path, key_path: Path) -> Iterator[int]:
    """Serve TLS on 127.0.0.1 for the handshakes of one test, in a thread."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(5)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.settimeout(5)
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"hello")
            except (ssl.SSLError, OSError):
                pass  # the client refused our certificate: that is what some tests want

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)


def handshake(port: int, cafile: Path, server_hostname: str) -> bytes:
    context = ssl.create_default_context(cafile=str(cafile))
    # What Python 3.13 turns on by default: the certificate must be well-formed, not just valid.
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        return tls.recv(5)


def test_tls_handshake_with_ip_certificate(ip_cert: SelfSignedCert, tmp_path: Path) -> None:
    cert_path, key_path = _written(ip_cert, tmp_path)
    with tls_server(cert_path, key_path) as port:
        assert handshake(port, cert_path, "127.0.0.1") == b"hello"
        with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
            handshake(port, cert_path, "127.0.0.2")
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(port, cert_path, "localhost")


def test_tls_handshake_with_dns_certificate(dns_cert: SelfSignedCert, tmp_path: Path) -> None:
    cert_path, key_path = _written(dns_cert, tmp_path)
    with tls_server(cert_path, key_path) as port:
        assert handshake(port, cert_path, "localhost") == b"hello"
        with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
            handshake(port, cert_path, "bot.example.com")


def test_tls_handshake_fails_against_another_certificate(
    ip_cert: SelfSignedCert, tmp_path: Path
) -> None:
    cert_path, key_path = _written(ip_cert, tmp_path)
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(generate_self_signed_cert("127.0.0.1").cert_pem)
    with (
        tls_server(cert_path, key_path) as port,
        pytest.raises(ssl.SSLCertVerificationError, match=r"self.signed"),
    ):
        handshake(port, stranger, "127.0.0.1")

"""Self-signed certificates for a webhook on a bare IP or a host without a CA-issued certificate.

Telegram accepts a self-signed certificate when it is uploaded with ``setWebhook``. What is made
here matches the ``openssl req -newkey rsa:2048 -sha256 -nodes -x509`` recipe of Telegram's own
guide (RSA 2048, SHA-256, ``CA:TRUE`` from OpenSSL's default ``v3_ca`` section), plus a
subjectAltName so that ordinary TLS clients, not only Telegram, can verify it too.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CertificateInfo",
    "SelfSignedCert",
    "check_certificate",
    "generate_self_signed_cert",
    "load_certificate",
]

StrPath = str | os.PathLike[str]

#: ``check_certificate`` warns when fewer days than this are left.
EXPIRY_WARNING_DAYS = 30

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _clean_host(host: str) -> str:
    host = host.strip()
    if not host or "://" in host or "/" in host or " " in host:
        raise ValueError(
            f"{host!r} is not a host name or IP address; pass the host alone, e.g. "
            "'bot.example.com' or '203.0.113.5', without a scheme, port or path."
        )
    ip = _parse_ip(host)
    if ip is not None:
        return str(ip)
    if ":" in host:
        raise ValueError(
            f"{host!r} has a port in it; pass the host alone: the certificate does not name a port."
        )
    return host.lower().rstrip(".")


@dataclass(frozen=True)
class SelfSignedCert:
    """A freshly made certificate and its private key, both PEM-encoded.

    Upload :attr:`cert_pem` with ``setWebhook`` and give both files to the TLS server
    (nginx, gunicorn's ``certfile``/``keyfile``).
    """

    #: The host name or IP address the certificate is for.
    host: str
    #: The certificate, PEM (this is what Telegram needs).
    cert_pem: bytes
    #: The unencrypted private key, PEM (PKCS#8). Keep it secret.
    key_pem: bytes = field(repr=False)

    def write(self, cert_path: StrPath, key_path: StrPath, *, overwrite: bool = False) -> None:
        """Write the certificate (mode 0644) and the private key (mode 0600).

        The key file is created with mode 0600 from the start, never readable by others even
        for a moment. Existing files are left alone unless ``overwrite`` is true, in which case
        each file is replaced atomically.

        :raises FileExistsError: a file exists and ``overwrite`` is false.
        """
        cert_file, key_file = Path(cert_path), Path(key_path)
        if cert_file.resolve() == key_file.resolve():
            raise ValueError("The certificate and the key need two different file names.")
        if not overwrite:
            for existing in (key_file, cert_file):
                if existing.exists():
                    raise _exists_error(existing)
        _write_private(key_file, self.key_pem, 0o600, overwrite)
        try:
            _write_private(cert_file, self.cert_pem, 0o644, overwrite)
        except BaseException:
            if not overwrite:
                key_file.unlink(missing_ok=True)  # do not leave half a pair behind
            raise


def _exists_error(path: Path) -> FileExistsError:
    return FileExistsError(
        f"{path} already exists and was left untouched; pass overwrite=True "
        "(or --force on the command line) to replace it."
    )


def _write_private(path: Path, data: bytes, mode: int, overwrite: bool) -> None:
    """Create ``path`` with ``mode`` from the first byte on (O_EXCL), atomically if replacing."""
    target = path
    if overwrite:
        # Write a sibling, then rename over the old file: readers see the old or the new.
        target = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(target, flags, mode)
    except FileExistsError:
        raise _exists_error(path) from None
    try:
        os.fchmod(fd, mode)  # the umask may have taken bits away; we want exactly ``mode``
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if target != path:
            os.replace(target, path)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def generate_self_signed_cert(
    host: str, *, days: int = 365, key_size: int = 2048
) -> SelfSignedCert:
    """Make a self-signed certificate for ``host`` (a DNS name or an IP address).

    RSA ``key_size`` bits (2048, as in Telegram's guide), SHA-256, subject CN equal to ``host``
    and a subjectAltName with the DNS name or the IP address, valid for ``days`` days.
    """
    name = _clean_host(host)
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be a whole number of at least 1, got {days!r}.")
    if key_size < 2048:
        raise ValueError(f"key_size must be at least 2048 bits, got {key_size}.")
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    ip = _parse_ip(name)
    alt_name: x509.GeneralName = x509.IPAddress(ip) if ip is not None else x509.DNSName(name)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # tolerate a little clock skew
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([alt_name]), critical=False)
        # Key identifiers and key usage keep strict verifiers (OpenSSL's X509_STRICT) content.
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return SelfSignedCert(
        host=name,
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


@dataclass(frozen=True)
class CertificateInfo:
    """What matters about a certificate file for a webhook."""

    path: Path
    #: The subject's common name, if any.
    common_name: str | None
    #: DNS names from the subjectAltName.
    dns_names: tuple[str, ...]
    #: IP addresses from the subjectAltName, as text.
    ip_addresses: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    #: SHA-256 fingerprint, colon-separated hex, as ``openssl x509 -fingerprint`` prints it.
    fingerprint_sha256: str
    self_signed: bool
    #: ``"PEM"`` or ``"DER"``; Telegram wants PEM.
    encoding: str
    certificate: x509.Certificate = field(repr=False)

    @property
    def hosts(self) -> tuple[str, ...]:
        """Every name the certificate is for (subjectAltName, else the CN)."""
        names = self.dns_names + self.ip_addresses
        if names:
            return names
        return (self.common_name,) if self.common_name else ()

    def matches_host(self, host: str) -> bool:
        """Whether the certificate is valid for ``host``.

        Uses the subjectAltName; only a certificate without one falls back to the CN, which
        is what Telegram's own recipe makes and what Telegram accepts.
        """
        wanted_ip = _parse_ip(host)
        has_san = bool(self.dns_names or self.ip_addresses)
        if wanted_ip is not None:
            candidates = self.ip_addresses if has_san else (self.common_name or "",)
            return any(_parse_ip(c) == wanted_ip for c in candidates)
        wanted = host.lower().rstrip(".")
        candidates = self.dns_names if has_san else (self.common_name or "",)
        return any(_dns_match(c.lower().rstrip("."), wanted) for c in candidates)


def _dns_match(pattern: str, host: str) -> bool:
    if pattern.startswith("*."):
        # A wildcard covers exactly one left-most label.
        first, _, rest = host.partition(".")
        return bool(first) and rest == pattern[2:]
    return pattern == host


def load_certificate(path: StrPath) -> CertificateInfo:
    """Read a PEM (or DER) certificate file.

    :raises ValueError: the file does not hold a certificate.
    """
    file = Path(path)
    data = file.read_bytes()
    encoding = "PEM"
    try:
        if b"-----BEGIN" in data:
            cert = x509.load_pem_x509_certificate(data)
        else:
            encoding = "DER"
            cert = x509.load_der_x509_certificate(data)
    except ValueError:
        raise ValueError(
            f"{file} does not hold an X.509 certificate in PEM or DER form; pass the "
            "certificate file (e.g. cert.pem from `flask tg gen-cert`), not the private key."
        ) from None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns_names, ips = (), ()
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(cns[0].value) if cns else None
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return CertificateInfo(
        path=file,
        common_name=common_name,
        dns_names=dns_names,
        ip_addresses=ips,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        fingerprint_sha256=":".join(digest[i : i + 2] for i in range(0, len(digest), 2)),
        self_signed=cert.issuer == cert.subject,
        encoding=encoding,
        certificate=cert,
    )


def check_certificate(
    cert_path: StrPath,
    *,
    host: str | None = None,
    key_path: StrPath | None = None,
    now: dt.datetime | None = None,
    warn_days: int = EXPIRY_WARNING_DAYS,
) -> list[str]:
    """List what is wrong with a certificate (and its key) for a webhook; empty when all is well.

    Checks validity dates (expired, not yet valid, expiring within ``warn_days``), that it
    names ``host``, that it is PEM, and that ``key_path`` holds the matching private key and is
    not readable by other users.
    """
    info = load_certificate(cert_path)
    moment = now or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    problems: list[str] = []
    # Uploading the new one matters: set-webhook without --certificate keeps the old one.
    renew = (
        "make a new one with `flask tg gen-cert --force` and upload it with "
        f"`flask tg set-webhook --certificate {cert_path}`."
    )
    if info.not_after <= moment:
        problems.append(f"The certificate expired on {_day(info.not_after)}; {renew}")
    elif info.not_after - moment < dt.timedelta(days=warn_days):
        left = (info.not_after - moment).days
        problems.append(
            f"The certificate expires on {_day(info.not_after)}, in {left} days; {renew}"
        )
    if info.not_before > moment:
        problems.append(
            f"The certificate is not valid before {_day(info.not_before)}; check this "
            "machine's clock or make a new certificate."
        )
    if host is not None and not info.matches_host(host):
        names = ", ".join(info.hosts) or "no host at all"
        problems.append(
            f"The certificate is for {names}, not for {host}; make one for that host with "
            f"`flask tg gen-cert --host {host}`."
        )
    if info.encoding != "PEM":
        problems.append(
            "The certificate is DER-encoded but Telegram wants PEM; convert it with "
            "`openssl x509 -inform der -in cert.der -out cert.pem`."
        )
    if key_path is not None:
        problems.extend(_key_problems(info, Path(key_path)))
    return problems


def _key_problems(info: CertificateInfo, key_file: Path) -> list[str]:
    problems: list[str] = []
    try:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except (ValueError, TypeError):
        return [
            f"{key_file} does not hold an unencrypted PEM private key; pass the key file "
            "written next to the certificate."
        ]
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != info.certificate.public_key().public_bytes(*spki):
        problems.append(
            f"The private key in {key_file} does not belong to the certificate in {info.path}; "
            "use the key made together with that certificate, or make a new pair."
        )
    mode = stat.S_IMODE(key_file.stat().st_mode)
    if mode & 0o077:
        problems.append(
            f"The private key {key_file} can be read by other users (mode {mode:04o}); "
            f"run `chmod 600 {key_file}`."
        )
    return problems


def _day(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")

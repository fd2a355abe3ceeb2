"""Key material kept under ``KEY_DIR``: generated on first run, read on every start.

Keys are files rather than database rows so that a database dump never contains them, and the audit pepper in
particular stays outside the database: without it the subject commitments in the log cannot be brute-forced.

Development creates whatever is missing on first start. Production does not: ``gongyu keys init`` creates the
material once into ``GONGYU_KEY_DIR`` (``init_keys``), and start-up only checks it
(``check_production_keys``), because a key generated silently by a misconfigured process (wrong directory,
lost volume) would sign and commit under a key nobody provisioned, and the log and sealed numbers written
under it would not survive the next start.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def _write_secret(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # owner-only, as production start-up demands
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    # A concurrent first start may have written it already; keep whichever landed first.
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def load_or_create_secret(path: Path, size: int = 32) -> bytes:
    if not path.exists():
        _write_secret(path, secrets.token_bytes(size))
    secret = path.read_bytes()
    if len(secret) < size:
        raise ValueError(f"secret {path} is shorter than {size} bytes")
    return secret


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 key with the ``kid`` published in the JWKS."""

    private_key: Ed25519PrivateKey
    kid: str

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, str]:
        raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        }


def _kid(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()[:12]).rstrip(b"=").decode()


def load_or_create_ed25519(path: Path) -> SigningKey:
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_secret(path, pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return SigningKey(key, _kid(key.public_key()))


@dataclass(frozen=True)
class KeyRing:
    token_key: SigningKey
    log_key: SigningKey
    pepper: bytes
    data_key: bytes


TOKEN_KEY_FILE = "token-signing.ed25519.pem"  # noqa: S105 - a file name, not a secret
LOG_KEY_FILE = "log-signing.ed25519.pem"
DATA_KEY_FILE = "data.aes256"
# Created by ``gongyu keys init`` too (hub/issuance/cli.py); production refuses to start without them rather
# than let the first issuance create a document key and a CA in whatever directory it finds.
ISSUANCE_FILES = ("issuance/cose/manifest.json", "issuance/ca.key.pem")
# Words that mark a secret somebody typed in to get going rather than generated (case-insensitive).
PLACEHOLDER_WORDS: tuple[bytes, ...] = (b"changeme", b"change-me", b"change_me", b"placeholder", b"example")
PLACEHOLDER_WORDS += (b"secret", b"password", b"dummy", b"demo", b"test", b"xxxxxxxx", b"todo")
# RFC 8032 section 7.1, TEST 1: the Ed25519 key found in every tutorial.
_RFC8032_TEST_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")


class KeyMaterialError(RuntimeError):
    """Key material a production hub refuses to start with; the message lists every problem found."""


def load_keyring(key_dir: Path, pepper_file: Path) -> KeyRing:
    return KeyRing(
        token_key=load_or_create_ed25519(key_dir / TOKEN_KEY_FILE),
        log_key=load_or_create_ed25519(key_dir / LOG_KEY_FILE),
        pepper=load_or_create_secret(pepper_file),
        data_key=load_or_create_secret(key_dir / DATA_KEY_FILE, 32)[:32],
    )


def placeholder_secret(data: bytes) -> bool:
    """A secret that was typed or copied rather than generated: a known word, or too few distinct bytes.

    32 random bytes have about 30 distinct values and a hex or base64 rendering at least 12; fewer than 8
    means a repeated pattern (``0000…``, ``abab…``). The word list catches ``changeme``-style values.
    """
    lowered = data.lower()
    return len(set(data)) < 8 or any(word in lowered for word in PLACEHOLDER_WORDS)


def _placeholder_ed25519(path: Path) -> bool:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        return False  # not an Ed25519 key at all; load_keyring reports that with its own message
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return raw == _RFC8032_TEST_SEED or len(set(raw)) < 8


def _open_to_others(path: Path) -> bool:
    return bool(stat.S_IMODE(path.stat().st_mode) & 0o077)


def check_production_keys(key_dir: Path, pepper_file: Path, database_dir: Path | None) -> None:
    """Refuse missing, group/world-accessible or placeholder key material, and keys beside the database.

    ``database_dir`` is the directory of the hub's SQLite file (None on PostgreSQL): whoever copies that
    directory (a backup, a support bundle) must not get the pepper, without which the log's subject
    commitments cannot be brute-forced, nor the data key that seals resident numbers. Every problem is
    listed at once, so one ``gongyu keys init`` or ``chmod`` fixes them all.
    """
    problems: list[str] = []
    if not key_dir.is_dir():
        raise KeyMaterialError(
            f"refusing to start in production: key directory {key_dir} does not exist "
            "(create it with `gongyu keys init`)"
        )
    for root, dirs, files in os.walk(key_dir):
        for name in [".", *dirs, *files]:
            path = Path(root) / name
            if _open_to_others(path):
                mode = stat.S_IMODE(path.stat().st_mode)
                wanted = "700" if path.is_dir() else "600"
                problems.append(f"{path.resolve()} is group/world-accessible (mode {mode:o}; chmod {wanted})")
    # The attachments' master key too: without it the first upload of a civil application would fail.
    secrets_ = {key_dir / DATA_KEY_FILE: 32, pepper_file: 32, key_dir / APPLICATION_FILES_KEY_FILE: 32}
    signing = [key_dir / TOKEN_KEY_FILE, key_dir / LOG_KEY_FILE]
    problems += _counter_key_problems(key_dir)
    for path in [*secrets_, *signing, *(key_dir / name for name in ISSUANCE_FILES)]:
        if not path.is_file():
            problems.append(f"{path} is missing (create it with `gongyu keys init`)")
    if pepper_file.is_file() and _open_to_others(pepper_file) and not pepper_file.is_relative_to(key_dir):
        problems.append(f"{pepper_file} is group/world-accessible (chmod 600)")
    for path, size in secrets_.items():
        if path.is_file() and not _open_to_others(path):
            data = path.read_bytes()
            if len(data) < size or placeholder_secret(data):
                problems.append(f"{path} holds a placeholder, not a generated secret (`gongyu keys init`)")
    for path in signing:
        if path.is_file() and not _open_to_others(path) and _placeholder_ed25519(path):
            problems.append(f"{path} holds a well-known or placeholder key, not a generated one")
    if database_dir is not None:
        for what, path in (("the audit pepper", pepper_file), ("the key directory", key_dir)):
            if path.resolve().is_relative_to(database_dir.resolve()):
                problems.append(
                    f"{what} ({path}) is stored next to the database in {database_dir}: "
                    "a copy of the database directory would carry it; keep it elsewhere"
                )
    if problems:
        raise KeyMaterialError("refusing to start in production:\n- " + "\n- ".join(problems))


def init_keys(key_dir: Path, pepper_file: Path) -> list[tuple[Path, str]]:
    """Create the hub's key material (``gongyu keys init``): 0700 directory, 0600 files; never replace a key.

    An existing key is kept (replacing the log key or the pepper would orphan everything written under it),
    but tightened to 0600 and refused if it is a placeholder. Returns each file with ``created`` or ``kept``.
    """
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(key_dir, 0o700)
    pepper_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    existed = {path: path.exists() for path in _keyring_files(key_dir, pepper_file)}
    for path, there in existed.items():
        if there:
            os.chmod(path, 0o600)
            pem = path.suffix == ".pem"
            if _placeholder_ed25519(path) if pem else placeholder_secret(path.read_bytes()):
                raise KeyMaterialError(
                    f"{path} holds a placeholder; remove it, then `gongyu keys init` again"
                )
    load_keyring(key_dir, pepper_file)
    load_application_files_key(key_dir, create=True)
    # Counters' hand-off key pairs are made per office (`gongyu applications counter-key ORG`) into here.
    (key_dir / COUNTER_KEYS_DIR).mkdir(parents=True, exist_ok=True, mode=0o700)
    return [(path, "kept" if there else "created") for path, there in existed.items()]


def restrict_permissions(key_dir: Path) -> None:
    """Owner-only access under ``key_dir``: 0700 directories, 0600 files (what production start-up demands).

    Files written here are already 0600, but intermediate directories (``issuance/``) are created with the
    process umask; this closes them after a ``keys init`` or a restore from a backup.
    """
    for root, dirs, files in os.walk(key_dir):
        os.chmod(root, 0o700)
        for name in dirs:
            os.chmod(Path(root) / name, 0o700)
        for name in files:
            os.chmod(Path(root) / name, 0o600)


def _keyring_files(key_dir: Path, pepper_file: Path) -> list[Path]:
    return [
        key_dir / TOKEN_KEY_FILE,
        key_dir / LOG_KEY_FILE,
        key_dir / DATA_KEY_FILE,
        pepper_file,
        key_dir / APPLICATION_FILES_KEY_FILE,
    ]


# --- civil applications (hub/applications): the attachments' master key and the counters' hand-off keys ---

APPLICATION_FILES_KEY_FILE = "applications/files-master.aes256"
COUNTER_KEYS_DIR = "applications/counters"
_COUNTER_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def load_application_files_key(key_dir: Path, *, create: bool) -> bytes:
    """The master key that wraps each attachment's own key (AES key wrap, RFC 3394).

    Kept in the key directory, never in the database, so that a database dump plus the encrypted files still
    reads as noise. ``create`` is False in production: the key is made once by ``gongyu keys init`` (with
    the others; ``gongyu applications init-keys`` makes it alone), start-up refuses a production hub without
    it (``check_production_keys``), and a missing key is an error rather than a fresh key nobody can restore.
    """
    path = key_dir / APPLICATION_FILES_KEY_FILE
    if not path.exists() and not create:
        raise KeyMaterialError(f"{path} is missing (create it with `gongyu keys init`)")
    return load_or_create_secret(path, 32)[:32]


def counter_key_path(key_dir: Path, counter_id: str) -> Path:
    """Where a counter's hand-off key pair lives; the id is checked so that it never leaves the directory."""
    if not counter_id or len(counter_id) > 64 or not set(counter_id) <= _COUNTER_ID_CHARS:
        raise ValueError("a counter id is 1-64 characters of a-z, 0-9 and '-'")
    return key_dir / COUNTER_KEYS_DIR / f"{counter_id}.p256.pem"


def load_counter_key(key_dir: Path, counter_id: str, *, create: bool) -> ec.EllipticCurvePrivateKey | None:
    """A counter's P-256 key pair (ECDH-ES target of the offline hand-off QR), or None when it has none.

    One pair per counter, generated on first use where ``create`` allows it (development, or ``gongyu
    applications counter-key``); the private half never leaves the key directory, the public half is
    published for the phone page.
    """
    path = counter_key_path(key_dir, counter_id)
    if not path.exists():
        if not create:
            return None
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_secret(path, pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"{path} does not hold a P-256 private key")
    return key


def _counter_key_problems(key_dir: Path) -> list[str]:
    """Each counter's hand-off key that is there must be a P-256 private key.

    Counters are provisioned one by one (``gongyu applications counter-key ORG``), so none is required; but
    a truncated or foreign file would otherwise only show up as a failed decode at the desk.
    """
    problems: list[str] = []
    folder = key_dir / COUNTER_KEYS_DIR
    if not folder.is_dir():
        return problems
    for path in sorted(folder.glob("*.p256.pem")):
        if _open_to_others(path):
            continue  # already named as group/world-accessible
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError):
            key = None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            problems.append(
                f"{path} does not hold a P-256 private key (remove it, then `gongyu applications "
                "counter-key` again)"
            )
    return problems

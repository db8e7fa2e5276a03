"""Signing keys for model bundles: HMAC-SHA256 over the bundle's header and payload.

Why: a bundle file decides which entities reviewers look at. Whoever can replace it could
hide an abuser (or, with a pickle, run code). A bundle is therefore signed when saved and
verified before anything in it is deserialised (see claimguard.model.bundle). The key is

* ``model.signing_key`` (``CLAIMGUARD_MODEL__SIGNING_KEY``): shared by everybody who trains
  and scores, e.g. a batch job and its CI, or
* when that is not set, a per-user key file (``model.signing_key_file``, default
  ``$XDG_CONFIG_HOME/claimguard/model.key`` = ``~/.config/claimguard/model.key``), created
  with mode 0600 by the first save and refused when others can read or change it.

The header names the key by a short id (a hash of the key, not the key), so a refusal can
say "signed with another key" instead of "damaged".
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from claimguard.errors import ModelError
from claimguard.settings import Settings

ALGORITHM = "HMAC-SHA256"
ENV_NAME = "CLAIMGUARD_MODEL__SIGNING_KEY"
_KEY_BYTES = 32


@dataclass(frozen=True)
class SigningKey:
    """A key and where it came from (for messages; never the key itself)."""

    secret: bytes
    source: str

    @property
    def key_id(self) -> str:
        """16 hex digits naming the key without revealing it."""
        return hashlib.sha256(b"claimguard-bundle-key:" + self.secret).hexdigest()[:16]

    def sign(self, *parts: bytes) -> str:
        mac = hmac.new(self.secret, digestmod=hashlib.sha256)
        for part in parts:
            # length-prefixed so that moving bytes between parts changes the MAC
            mac.update(len(part).to_bytes(8, "big"))
            mac.update(part)
        return mac.hexdigest()

    def verify(self, mac: str, *parts: bytes) -> bool:
        return hmac.compare_digest(self.sign(*parts), str(mac))


def default_key_file() -> Path:
    """``$XDG_CONFIG_HOME/claimguard/model.key``, else ``~/.config/claimguard/model.key``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "claimguard" / "model.key"


def key_file(settings: Settings) -> Path:
    configured = settings.model.signing_key_file
    return Path(configured).expanduser() if configured is not None else default_key_file()


def _key_error(what: str, path: Path, fix: str) -> ModelError:
    return ModelError(what, where=f"signing key file {path}", fix=fix)


def _read_key_file(path: Path) -> bytes:
    try:
        info = path.stat()
    except OSError as exc:
        raise _key_error(
            f"The signing key file cannot be read ({exc.strerror})",
            path,
            f"set {ENV_NAME}, or model.signing_key_file to a readable key file",
        ) from exc
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise _key_error(
            f"The signing key file can be read or changed by other users "
            f"(mode {stat.filemode(info.st_mode)})",
            path,
            f"run `chmod 600 {path}` (and check nobody else copied it)",
        )
    secret = path.read_bytes().strip()
    if len(secret) < 16:
        raise _key_error(
            "The signing key file holds no key (fewer than 16 bytes)",
            path,
            "delete it (a new one is made by the next `claimguard train`; bundles signed "
            "with the old key then need retraining), or restore the original file",
        )
    return secret


def _create_key_file(path: Path) -> None:
    """Write a new random key, readable by its owner only; keep a file a racer made first."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise _key_error(
            f"A signing key file cannot be created ({exc.strerror})",
            path,
            f"set {ENV_NAME} (16+ characters), or model.signing_key_file to a writable place",
        ) from exc
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(_KEY_BYTES) + "\n")


def signing_key(settings: Settings, create: bool = False) -> SigningKey | None:
    """The configured key; None when there is none (and ``create`` is False).

    ``create=True`` (saving) makes the per-user key file when neither a key nor the file
    exists yet.
    """
    configured = settings.model.signing_key
    if configured is not None:  # a str when set by model_copy(update=...), which does not validate
        text = configured.get_secret_value() if isinstance(configured, SecretStr) else configured
        return SigningKey(str(text).encode(), f"{ENV_NAME} / model.signing_key")
    path = key_file(settings)
    if not path.exists():
        if not create:
            return None
        _create_key_file(path)
    return SigningKey(_read_key_file(path), f"key file {path}")

"""Crafted model files: none of them runs code or scores; each is refused with a ModelError.

The malicious pickle's ``__reduce__`` calls ``os.mkdir`` on a canary path: the canary must
not exist after the attempt, whether the file is loaded directly, through the CLI in a
subprocess, or through a ``models:/`` URI of an MLflow registry.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import joblib
import pytest

from claimguard.errors import ModelError
from claimguard.model.bundle import (
    FORMAT_VERSION,
    MAGIC,
    bundle_state,
    load_bundle,
    read_bundle_file,
    save_bundle,
    write_bundle_file,
)
from claimguard.model.signing import SigningKey, signing_key
from claimguard.model.train import fit_bundle
from claimguard.settings import Settings

from .helpers import tiny_features


class Exploit:
    """Unpickling this calls ``os.mkdir(canary)``: proof that loading ran code."""

    def __init__(self, canary: Path) -> None:
        self.canary = str(canary)

    def __reduce__(self) -> tuple:
        return (os.mkdir, (self.canary,))


def _settings(**model) -> Settings:
    base = Settings()
    return base.model_copy(
        update={"model": base.model.model_copy(update={"n_estimators": 10, **model})}
    )


@pytest.fixture(scope="module")
def bundle():
    return fit_bundle(tiny_features(n_cards=600, n_fac=60), None, _settings())


def _evil_files(tmp_path: Path, canary: Path) -> dict[str, Path]:
    """The exploit as a raw pickle, as joblib files (the old bundle format) and inside a
    correctly framed bundle whose checksum matches."""
    files = {
        "pickle": tmp_path / "evil.pkl",
        "joblib": tmp_path / "evil.joblib",
        "joblib_old_format": tmp_path / "evil_old.joblib",
    }
    files["pickle"].write_bytes(pickle.dumps(Exploit(canary)))
    joblib.dump(Exploit(canary), files["joblib"])
    # the previous format: (header, pickled payload) with a matching checksum and versions
    from claimguard.model.versions import library_versions

    old_payload = pickle.dumps(Exploit(canary))
    header = {
        "format": FORMAT_VERSION,
        "versions": library_versions(),
        "sha256": hashlib.sha256(old_payload).hexdigest(),
    }
    joblib.dump((header, old_payload), files["joblib_old_format"], compress=3)
    return files


@pytest.mark.parametrize("kind", ["pickle", "joblib", "joblib_old_format"])
def test_malicious_pickle_under_a_bundle_name_is_refused_without_running(
    tmp_path: Path, kind: str
) -> None:
    # the exploit works: the previous loader (joblib.load, then pickle.loads of the
    # payload) runs it
    demo = tmp_path / "demo"
    demo.mkdir()
    check = tmp_path / "check"
    loaded = joblib.load(_evil_files(demo, check)[kind])
    if isinstance(loaded, tuple):
        pickle.loads(loaded[1])
    assert check.exists()

    canary = tmp_path / "pwned"
    path = _evil_files(tmp_path, canary)[kind]
    with pytest.raises(ModelError, match="is a pickle"):
        load_bundle(path)
    assert not canary.exists()


def test_pickle_smuggled_into_a_signed_bundle_is_not_unpickled(tmp_path: Path, bundle) -> None:
    """Even signed with the right key, a payload holding a pickle is not unpickled: the
    payload is a skops archive whose types are checked against a fixed list."""
    canary = tmp_path / "pwned"
    good = save_bundle(bundle, tmp_path / "good.joblib")
    header, _, _, _ = read_bundle_file(good)
    payload = pickle.dumps(Exploit(canary))
    evil = tmp_path / "evil.joblib"
    key = signing_key(Settings())
    assert key is not None
    write_bundle_file(evil, {**header, "sha256": hashlib.sha256(payload).hexdigest()}, payload, key)
    with pytest.raises(ModelError, match="cannot be read"):
        load_bundle(evil)
    assert not canary.exists()


def test_untrusted_type_in_a_signed_payload_is_refused(tmp_path: Path, bundle) -> None:
    """A signed skops payload naming a type outside TRUSTED_TYPES is refused by name."""
    import skops.io as sio

    state = bundle_state(bundle)
    state["metrics"] = {"extra": Path("/etc/passwd")}  # any object skops would have to build
    payload = sio.dumps(state)
    good = save_bundle(bundle, tmp_path / "good.joblib")
    header, _, _, _ = read_bundle_file(good)
    evil = tmp_path / "evil.joblib"
    key = signing_key(Settings())
    write_bundle_file(evil, {**header, "sha256": hashlib.sha256(payload).hexdigest()}, payload, key)
    with pytest.raises(ModelError, match=r"types claimguard does not load: pathlib\."):
        load_bundle(evil)


@pytest.mark.slow
def test_malicious_pickle_via_cli_exits_2_without_traceback(tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    path = _evil_files(tmp_path, canary)["joblib"]
    p = subprocess.run(
        [sys.executable, "-m", "claimguard", "score", str(tmp_path), "--model", str(path),
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert p.returncode == 2, p.stderr
    assert "is a pickle" in p.stderr and "claimguard train" in p.stderr
    assert "Traceback" not in p.stderr
    assert not canary.exists() and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_malicious_pickle_via_models_uri_is_refused(tmp_path: Path, bundle) -> None:
    """A registered MLflow model whose bundle artifact is a pickle: refused, nothing runs."""
    from claimguard.model.tracking import log_training_run

    canary = tmp_path / "pwned"
    evil = _evil_files(tmp_path, canary)["joblib"]
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  n_estimators: 10\n")
    log_training_run(bundle, evil, bundle.settings, config_path=cfg, timings={}, register="evil")
    with pytest.raises(ModelError, match="is a pickle"):
        load_bundle("models:/evil/1")
    assert not canary.exists()
    # the same registry serves a genuine bundle: the refusal is about the file, not MLflow
    good = save_bundle(bundle, tmp_path / "good.joblib")
    log_training_run(bundle, good, bundle.settings, config_path=cfg, timings={}, register="good")
    assert load_bundle("models:/good/1").model_version == bundle.model_version


def test_tampered_byte_in_a_signed_bundle_is_refused(tmp_path: Path, bundle) -> None:
    path = save_bundle(bundle, tmp_path / "b.joblib")
    load_bundle(path)  # the untouched file loads
    header, head, mac, payload = read_bundle_file(path)

    # a flipped payload byte with the checksum in the header updated to match
    altered = bytearray(payload)
    altered[len(altered) // 2] ^= 0x01
    new_head = head.replace(
        header["sha256"].encode(), hashlib.sha256(bytes(altered)).hexdigest().encode()
    )
    forged = tmp_path / "forged.joblib"
    forged.write_bytes(MAGIC + new_head + b"\n" + mac.encode() + b"\n" + bytes(altered))
    with pytest.raises(ModelError, match="signature does not match"):
        load_bundle(forged)

    # one changed header byte (the model version), payload untouched
    renamed = tmp_path / "renamed.joblib"
    version = header["model_version"].encode()
    renamed.write_bytes(
        path.read_bytes().replace(version, version[:-1] + (b"0" if version[-1:] != b"0" else b"1"))
    )
    with pytest.raises(ModelError, match="signature does not match"):
        load_bundle(renamed)


def test_unsigned_bundle_is_refused(tmp_path: Path, bundle) -> None:
    path = save_bundle(bundle, tmp_path / "b.joblib")
    header, _, _, payload = read_bundle_file(path)
    unsigned = tmp_path / "unsigned.joblib"
    header.pop("signature")
    unsigned.write_bytes(MAGIC + json.dumps(header).encode() + b"\n\n" + payload)
    with pytest.raises(ModelError, match="not signed"):
        load_bundle(unsigned)


def test_bundle_signed_with_another_key_is_refused(tmp_path: Path, bundle) -> None:
    mine = save_bundle(bundle, tmp_path / "mine.joblib")
    header, _, _, payload = read_bundle_file(mine)
    theirs = tmp_path / "theirs.joblib"
    other = SigningKey(b"someone-else's-key-0123456789", "test")
    write_bundle_file(theirs, header, payload, other)
    with pytest.raises(ModelError, match="signed with another key") as info:
        load_bundle(theirs)
    assert other.key_id in str(info.value) and "CLAIMGUARD_MODEL__SIGNING_KEY" in str(info.value)

    # a forged key id naming my key does not help: the MAC is still the other key's
    forged = tmp_path / "forged.joblib"
    head = theirs.read_bytes().replace(
        other.key_id.encode(), signing_key(Settings()).key_id.encode()
    )
    forged.write_bytes(head)
    with pytest.raises(ModelError, match="signature does not match"):
        load_bundle(forged)


def test_configured_key_signs_and_must_match_on_load(tmp_path: Path, bundle) -> None:
    key = "k" * 32
    signed = bundle.settings.model_copy(
        update={"model": bundle.settings.model.model_copy(update={"signing_key": key})}
    )
    keyed = type(bundle)(**{**vars(bundle), "settings": signed})
    path = save_bundle(keyed, tmp_path / "b.joblib")
    assert key not in path.read_bytes().decode("latin-1")  # the key is not stored
    assert load_bundle(path, signed).model_version == bundle.model_version
    save_bundle(bundle, tmp_path / "default.joblib")  # makes the per-user key file if absent
    with pytest.raises(ModelError, match="signed with another key"):
        load_bundle(path, Settings())  # the per-user key file's key
    env = {"CLAIMGUARD_MODEL__SIGNING_KEY": key}
    from claimguard.settings import load_settings

    assert load_bundle(path, load_settings(environ=env)).model_version == bundle.model_version


def test_key_file_is_made_private_and_refused_when_others_can_read_it(
    tmp_path: Path, bundle
) -> None:
    key_file = tmp_path / "keys" / "model.key"
    settings = bundle.settings.model_copy(
        update={"model": bundle.settings.model.model_copy(update={"signing_key_file": key_file})}
    )
    keyed = type(bundle)(**{**vars(bundle), "settings": settings})
    path = save_bundle(keyed, tmp_path / "b.joblib")
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert load_bundle(path, settings).model_version == bundle.model_version
    key_file.chmod(0o644)
    with pytest.raises(ModelError, match="can be read or changed by other users"):
        load_bundle(path, settings)
    key_file.unlink()
    with pytest.raises(ModelError, match="No signing key"):
        load_bundle(path, settings)


def test_signing_key_setting_is_declared_validated_and_never_dumped() -> None:
    from claimguard.errors import ConfigError
    from claimguard.settings import load_settings

    key = "s3cret-" * 4
    s = load_settings(environ={"CLAIMGUARD_MODEL__SIGNING_KEY": key})
    assert s.model.signing_key is not None and s.model.signing_key.get_secret_value() == key
    assert key not in json.dumps(s.model_dump(mode="json")) and key not in repr(s)
    assert s.config_hash() == load_settings(environ={}).config_hash()  # alert ids unchanged
    with pytest.raises(ConfigError, match="CLAIMGUARD_MODEL__SIGNING_KEY") as info:
        load_settings(environ={"CLAIMGUARD_MODEL__SIGNING_KEY": "short"})
    assert "short" not in str(info.value)  # the value itself is never echoed
    with pytest.raises(ConfigError, match="names no setting"):
        load_settings(environ={"CLAIMGUARD_MODEL__SIGNING_KYE": key})

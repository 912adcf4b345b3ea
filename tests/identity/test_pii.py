"""The PII vault: encryption at rest, key rotation, blind indexes and masking."""

from __future__ import annotations

import base64
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from identity.pii import (
    PiiDecryptError,
    PiiKeyRing,
    Vault,
    current_vault,
    ensure_pii_keys,
    mask_address,
    mask_id_number,
    mask_name,
    mask_phone,
    rotate_pii_key,
    set_vault,
)
from server.keyfiles import KeyFileError
from server.settings import Settings

TOKEN_RE = re.compile(r"v1\.[a-z0-9]{1,16}\.[A-Za-z0-9_-]+")
SECRET = "440311199001011234"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def file_settings(tmp_path: Path) -> Settings:
    return Settings(var_dir=str(tmp_path))


def file_vault(tmp_path: Path) -> Vault:
    return Vault(PiiKeyRing.from_settings(file_settings(tmp_path)))


@pytest.fixture
def vault() -> Vault:
    return Vault(PiiKeyRing.generate())


@pytest.fixture
def no_vault() -> Iterator[None]:
    set_vault(None)
    yield
    set_vault(None)


def decode_blob(token: str) -> tuple[str, bytes]:
    prefix, _, body = token.rpartition(".")
    return prefix, base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


def encode_blob(prefix: str, blob: bytes) -> str:
    return prefix + "." + base64.urlsafe_b64encode(blob).rstrip(b"=").decode("ascii")


# Encryption -------------------------------------------------------------------------------------


@pytest.mark.parametrize("plaintext", [SECRET, "张三", "广东省深圳市光明区光明街道", "", "x" * 5000])
def test_round_trip(vault: Vault, plaintext: str) -> None:
    token = vault.encrypt(plaintext, field="id_number")
    assert TOKEN_RE.fullmatch(token)
    assert token.split(".")[1] == vault.keyring.active_kid
    assert "=" not in token
    assert vault.decrypt(token, field="id_number") == plaintext


def test_same_plaintext_encrypts_differently(vault: Vault) -> None:
    # Random nonces: equal values must not be recognisable in the table (the blind index is for that).
    assert vault.encrypt(SECRET, field="id_number") != vault.encrypt(SECRET, field="id_number")


@pytest.mark.parametrize("position", [0, 11, 12, 20, -1])  # nonce, nonce end, ciphertext, tag end
def test_flipped_byte_is_detected(vault: Vault, position: int) -> None:
    prefix, blob = decode_blob(vault.encrypt(SECRET, field="id_number"))
    tampered = bytearray(blob)
    tampered[position] ^= 0x01
    with pytest.raises(PiiDecryptError) as info:
        vault.decrypt(encode_blob(prefix, bytes(tampered)), field="id_number")
    assert SECRET not in str(info.value)


def test_value_copied_into_another_column_fails(vault: Vault) -> None:
    token = vault.encrypt(SECRET, field="id_number")
    with pytest.raises(PiiDecryptError) as info:
        vault.decrypt(token, field="phone")
    assert SECRET not in str(info.value)
    assert token not in str(info.value)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "plain text",
        SECRET,
        "v2.pabc.AAAA",
        "v1..AAAA",
        "v1.PABC.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.pabc.AAAA",  # shorter than nonce + tag
        "v1.pabc.AAAA+AAA/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  # standard, not URL-safe, alphabet
        "v1.pabc.AAAA.AAAA",
    ],
)
def test_malformed_values_are_refused(vault: Vault, token: str) -> None:
    with pytest.raises(PiiDecryptError):
        vault.decrypt(token, field="id_number")


def test_unknown_key_id(vault: Vault) -> None:
    token = Vault(PiiKeyRing.generate()).encrypt(SECRET, field="id_number")
    with pytest.raises(PiiDecryptError, match="unknown PII key id"):
        vault.decrypt(token, field="id_number")


def test_field_names_are_checked(vault: Vault) -> None:
    with pytest.raises(ValueError):
        vault.encrypt(SECRET, field="")
    with pytest.raises(ValueError):
        vault.blind_index(SECRET, field="id\x00number")


# Blind index ------------------------------------------------------------------------------------


def test_blind_index_is_deterministic_and_short(vault: Vault) -> None:
    first = vault.blind_index(SECRET, field="id_number")
    assert first == vault.blind_index(SECRET, field="id_number")
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != vault.blind_index("440311199001011235", field="id_number")


def test_blind_index_is_separated_by_field_and_key(vault: Vault) -> None:
    assert vault.blind_index("13812345678", field="phone") != vault.blind_index("13812345678", field="name")
    # The NUL separator keeps ("ab", "c") and ("a", "bc") apart.
    assert vault.blind_index("c", field="ab") != vault.blind_index("bc", field="a")
    other = Vault(PiiKeyRing.generate())
    assert vault.blind_index(SECRET, field="id_number") != other.blind_index(SECRET, field="id_number")


def test_blind_index_does_not_depend_on_the_encryption_key(tmp_path: Path) -> None:
    # Rotating the encryption key must not break look-ups by blind index.
    ensure_pii_keys(file_settings(tmp_path).keys_path)
    before = file_vault(tmp_path).blind_index(SECRET, field="id_number")
    rotate_pii_key(file_settings(tmp_path).keys_path)
    assert file_vault(tmp_path).blind_index(SECRET, field="id_number") == before


# Key files and rotation -------------------------------------------------------------------------


def test_missing_key_files_say_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="gmid keys init"):
        PiiKeyRing.from_settings(file_settings(tmp_path))


def test_ensure_creates_owner_only_files_once(tmp_path: Path) -> None:
    keys_path = file_settings(tmp_path).keys_path
    created = ensure_pii_keys(keys_path)
    assert len(created) == 3  # one key, ACTIVE and the index key
    for name in created:
        mode = stat.S_IMODE(os.stat(name).st_mode)
        assert mode == 0o600, name
    assert stat.S_IMODE(os.stat(keys_path / "pii").st_mode) == 0o700
    active = (keys_path / "pii" / "ACTIVE").read_text().strip()
    assert re.fullmatch(r"[a-z0-9]{1,16}", active)
    assert (keys_path / "pii" / f"{active}.key").is_file()
    assert ensure_pii_keys(keys_path) == []
    assert file_vault(tmp_path).keyring.active_kid == active


def test_ensure_recovers_from_an_interrupted_init(tmp_path: Path) -> None:
    keys_path = file_settings(tmp_path).keys_path
    ensure_pii_keys(keys_path)
    active = (keys_path / "pii" / "ACTIVE").read_text().strip()
    (keys_path / "pii" / "ACTIVE").unlink()
    assert ensure_pii_keys(keys_path) == [str(keys_path / "pii" / "ACTIVE")]
    assert file_vault(tmp_path).keyring.active_kid == active


def test_rotation_keeps_old_values_readable(tmp_path: Path) -> None:
    keys_path = file_settings(tmp_path).keys_path
    ensure_pii_keys(keys_path)
    old_vault = file_vault(tmp_path)
    old_token = old_vault.encrypt(SECRET, field="id_number")
    assert not old_vault.needs_reencrypt(old_token)

    new_kid = rotate_pii_key(keys_path)
    assert new_kid != old_vault.keyring.active_kid
    assert stat.S_IMODE(os.stat(keys_path / "pii" / f"{new_kid}.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(keys_path / "pii" / "ACTIVE").st_mode) == 0o600

    new_vault = file_vault(tmp_path)
    assert new_vault.keyring.active_kid == new_kid
    assert new_vault.decrypt(old_token, field="id_number") == SECRET
    new_token = new_vault.encrypt(SECRET, field="id_number")
    assert new_token.split(".")[1] == new_kid
    assert new_vault.needs_reencrypt(old_token)
    assert not new_vault.needs_reencrypt(new_token)

    rewritten = new_vault.reencrypt(old_token, field="id_number")
    assert rewritten.split(".")[1] == new_kid
    assert new_vault.decrypt(rewritten, field="id_number") == SECRET
    assert new_vault.reencrypt(new_token, field="id_number") == new_token


def test_missing_active_key_file_is_reported(tmp_path: Path) -> None:
    keys_path = file_settings(tmp_path).keys_path
    ensure_pii_keys(keys_path)
    active = (keys_path / "pii" / "ACTIVE").read_text().strip()
    (keys_path / "pii" / f"{active}.key").unlink()
    with pytest.raises(KeyFileError, match="missing"):
        PiiKeyRing.from_settings(file_settings(tmp_path))


# Keys from the environment ----------------------------------------------------------------------


def test_keys_from_settings_strings(tmp_path: Path) -> None:
    key_a, key_b, index_key = os.urandom(32), os.urandom(32), os.urandom(32)
    only_a = Settings(pii_keys=f"ka:{b64(key_a)}", pii_index_key=b64(index_key), var_dir=str(tmp_path))
    both = Settings(pii_keys=f"ka:{b64(key_a)}, kb:{b64(key_b)}", pii_index_key=b64(index_key), var_dir=str(tmp_path))
    vault_a = Vault.from_settings(only_a)
    vault_ab = Vault.from_settings(both)
    assert vault_ab.keyring.active_kid == "kb"  # the last one is active
    assert vault_ab.keyring.kids == ["ka", "kb"]

    old = vault_a.encrypt(SECRET, field="id_number")
    assert vault_ab.decrypt(old, field="id_number") == SECRET
    assert vault_ab.needs_reencrypt(old)
    assert vault_ab.encrypt(SECRET, field="id_number").startswith("v1.kb.")
    assert vault_a.blind_index(SECRET, field="id_number") == vault_ab.blind_index(SECRET, field="id_number")
    assert not (tmp_path / "keys").exists()  # nothing read or written on disk


@pytest.mark.parametrize(
    ("pii_keys", "message"),
    [
        ("ka:not-base64!", "not valid base64"),
        (f"ka:{b64(b'0' * 16)}", "too short"),
        (f"ka:{b64(b'0' * 48)}", "exactly 32 bytes"),
        (f"KA:{b64(b'0' * 32)}", "invalid"),
        (f"{b64(b'0' * 32)}", "invalid"),
        (f"ka:{b64(b'0' * 32)},ka:{b64(b'1' * 32)}", "twice"),
        (",", "no key"),
    ],
)
def test_bad_settings_strings_are_refused(tmp_path: Path, pii_keys: str, message: str) -> None:
    settings = Settings(pii_keys=pii_keys, pii_index_key=b64(os.urandom(32)), var_dir=str(tmp_path))
    with pytest.raises(KeyFileError, match=message) as info:
        PiiKeyRing.from_settings(settings)
    assert b64(b"0" * 32) not in str(info.value)


def test_short_index_key_is_refused(tmp_path: Path) -> None:
    settings = Settings(pii_keys=f"ka:{b64(os.urandom(32))}", pii_index_key=b64(b"short"), var_dir=str(tmp_path))
    with pytest.raises(KeyFileError, match="GMID_PII_INDEX_KEY"):
        PiiKeyRing.from_settings(settings)


def test_key_ring_repr_shows_no_key_material() -> None:
    ring = PiiKeyRing.generate()
    text = repr(ring)
    assert ring.active_kid in text
    for kid in ring.kids:
        key = ring.key(kid)
        assert key is not None
        assert b64(key) not in text and key.hex() not in text


# Per-process vault ------------------------------------------------------------------------------


def test_current_vault_requires_installation(no_vault: None, vault: Vault) -> None:
    with pytest.raises(RuntimeError):
        current_vault()
    set_vault(vault)
    assert current_vault() is vault
    set_vault(None)
    with pytest.raises(RuntimeError):
        current_vault()


# Masking ----------------------------------------------------------------------------------------


def test_mask_id_number() -> None:
    assert mask_id_number("440301199001011234") == "440***********1234"
    assert mask_id_number("11010519491231002X") == "110***********002X"
    assert mask_id_number("") == ""
    assert mask_id_number(None) == ""
    assert mask_id_number("1234567") == "*******"


def test_mask_phone() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone(None) == ""
    assert mask_phone("12345") == "*****"


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("欧阳娜娜", "欧***"),
        ("李", "*"),
        ("买买提·艾力", "买*****"),
        ("John Smith", "J***"),
        ("Al", "A***"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_name(name: str | None, masked: str) -> None:
    assert mask_name(name) == masked


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("广东省深圳市光明区光明街道碧眼社区1栋101", "广东省深圳市****"),
        ("光明区", "****"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_address(address: str | None, masked: str) -> None:
    assert mask_address(address) == masked

"""The e-ID token codec: public ids, the size budget, tamper resistance (property tests), and
interoperability with independent decoders (zxing-cpp) and JOSE libraries (joserfc, PyJWT)."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import struct
import time
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import cast

import httpx
import jwt
import numpy as np
import pytest
import qrcode
import zxingcpp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jws
from joserfc.errors import BadSignatureError, SecurityWarning
from joserfc.jwk import KeySet
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M
from sanic import Sanic

from identity.roles import Role
from qr import codec, render, service
from qr.keys import b64url, load
from tests.factories import auth, make_account, token_for
from tests.qr import make_vectors
from tests.qr.fixed_keyring import fixed_keyring

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# header {"alg":"EdDSA","kid":"<43-character thumbprint>"} (67 bytes -> 90) . 18-byte claims (24) .
# 64-byte signature (86)
TOKEN_LENGTH = 90 + 1 + 24 + 1 + 86
BASE_URLS_32 = [
    "https://eid.guangming.gov.cn/abc",
    "https://qr.gm.shenzhen.gov.cn/id",
    "http://10.200.100.250:65535/eid1",
]
KINDS = {"ebike": 1, "building": 2, "board": 3}


RING = fixed_keyring()
NOW = make_vectors.NOW
CLAIMS = codec.Claims(1, bytes.fromhex("0123456789abcdef"), 5, NOW - 60)
TOKEN = codec.sign(CLAIMS, RING)


# Public ids -----------------------------------------------------------------------------------------


@given(st.binary(min_size=8, max_size=8))
def test_public_id_round_trips_as_13_crockford_characters(raw: bytes) -> None:
    text = codec.encode_public_id(raw)
    assert len(text) == 13 and set(text) <= set(CROCKFORD)
    assert codec.decode_public_id(text) == raw
    assert codec.decode_public_id(text.lower()) == raw
    assert codec.decode_public_id(f"{text[:4]}-{text[4:8]} {text[8:]}") == raw  # as printed in groups


def test_public_id_known_values_and_aliases() -> None:
    assert codec.encode_public_id(bytes(8)) == "0000000000000"
    assert codec.encode_public_id(b"\xff" * 8) == "FZZZZZZZZZZZZ"
    assert codec.encode_public_id(bytes.fromhex("0123456789abcdef")) == "028T5CY4TQKFF"
    raw = codec.decode_public_id("0000000000001")
    assert raw == bytes(7) + b"\x01"
    # I and L read as 1, O as 0, in either case.
    for alias in ("000000000000I", "000000000000i", "000000000000L", "000000000000l"):
        assert codec.decode_public_id(alias) == raw
    assert codec.decode_public_id("O0oO0000000o1") == raw


@pytest.mark.parametrize(
    "text",
    ["", "000000000001", "00000000000001", "000000000000U", "00000000000!1", "G000000000000", "ZZZZZZZZZZZZZ"],
)
def test_public_id_refuses_wrong_length_letters_and_overflow(text: str) -> None:
    assert codec.decode_public_id(text) is None


def test_new_public_ids_are_random_64_bit() -> None:
    ids = {codec.new_public_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) == 8 for i in ids)


# Round trip and size budget -------------------------------------------------------------------------


@given(
    kind=st.integers(1, 255),
    raw=st.binary(min_size=8, max_size=8),
    serial=st.integers(0, 2**32 - 1),
    iat=st.integers(0, NOW),
)
def test_sign_then_verify_returns_the_claims_and_the_token_length_is_fixed(
    kind: int, raw: bytes, serial: int, iat: int
) -> None:
    claims = codec.Claims(kind, raw, serial, iat)
    token = codec.sign(claims, RING)
    assert len(token) == TOKEN_LENGTH
    verified = codec.verify(token, RING, now=NOW)
    assert verified.claims == claims and verified.kid == RING.active_kid


def test_token_is_header_payload_signature_of_the_documented_sizes() -> None:
    header, payload, signature = TOKEN.split(".")
    assert make_vectors.b64url_decode(header) == b'{"alg":"EdDSA","kid":"' + RING.active_kid.encode() + b'"}'
    assert len(make_vectors.b64url_decode(payload)) == codec.CLAIMS_SIZE == 18
    assert len(make_vectors.b64url_decode(signature)) == 64
    assert (len(header), len(payload), len(signature)) == (90, 24, 86)
    # The payload is the documented record: version, kind, id, serial (BE), iat (BE).
    assert make_vectors.b64url_decode(payload) == struct.pack(
        ">BB8sII", 1, CLAIMS.kind, CLAIMS.public_id, CLAIMS.serial, CLAIMS.iat
    )


def _qrcode_best_fit(text: str) -> int:
    reference = qrcode.QRCode(error_correction=ERROR_CORRECT_M)
    reference.add_data(text)
    version: int = reference.best_fit()
    return version


@pytest.mark.parametrize("base", BASE_URLS_32)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_code_url_fits_version_11_at_level_m_with_a_32_character_base(base: str, kind: str, tmp_path: Path) -> None:
    assert len(base) == 32
    keys_dir = tmp_path / "keys"
    from qr.keys import ensure_keyring

    ensure_keyring(keys_dir)  # a freshly generated key, as in production (any kid)
    for ring in (RING, load(keys_dir)):
        token = codec.sign(codec.Claims(KINDS[kind], b"\xff" * 8, 2**32 - 1, 2**32 - 1), ring)
        assert len(token) == TOKEN_LENGTH, "the token grew: the size budget must be re-checked"
        url = f"{base}/q/{token}"
        matrix = render.encode(url)
        assert matrix.version <= render.MAX_VERSION == 11
        assert matrix.version <= _qrcode_best_fit(url)
        assert matrix.width == matrix.version * 4 + 17 + 2 * render.QUIET_ZONE


def test_the_version_11_budget_holds_a_base_url_of_46_characters_and_no_more() -> None:
    """The README's figure: version 11 at M holds 251 bytes; the URL is base + "/q/" + 202."""
    token = codec.sign(codec.Claims(255, b"\xff" * 8, 2**32 - 1, 2**32 - 1), RING)
    assert render.encode(f"https://{'e' * 38}/q/{token}").version == 11
    assert render.encode(f"https://{'e' * 39}/q/{token}").version == 12


@pytest.mark.parametrize("length", [1, 14, 15, 26, 27, 62, 63, 122, 123, 152, 153, 180, 181, 190, 213, 214, 300])
def test_encoder_never_picks_a_larger_version_than_needed(length: int) -> None:
    text = ("https://eid.example.cn/q/" + TOKEN * 3)[:length]
    matrix = render.encode(text)
    assert matrix.version <= _qrcode_best_fit(text)


# Property tests: any one-character change fails ---------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(position=st.integers(0, TOKEN_LENGTH - 1), char=st.sampled_from(B64URL + "."))
def test_changing_any_character_fails_verification(position: int, char: str) -> None:
    if TOKEN[position] == char:
        char = "A" if char != "A" else "B"
    changed = TOKEN[:position] + char + TOKEN[position + 1 :]
    with pytest.raises(codec.VerifyError):
        codec.verify(changed, RING, now=NOW)


@settings(max_examples=200, deadline=None)
@given(position=st.integers(0, TOKEN_LENGTH - 1))
def test_deleting_any_character_fails_verification(position: int) -> None:
    with pytest.raises(codec.VerifyError):
        codec.verify(TOKEN[:position] + TOKEN[position + 1 :], RING, now=NOW)


@settings(max_examples=300, deadline=None)
@given(position=st.integers(0, TOKEN_LENGTH), char=st.sampled_from(B64URL + "."))
def test_inserting_any_character_fails_verification(position: int, char: str) -> None:
    with pytest.raises(codec.VerifyError):
        codec.verify(TOKEN[:position] + char + TOKEN[position:], RING, now=NOW)


def test_every_single_character_substitution_fails() -> None:
    """The exhaustive version of the property above: 155 positions x 63 other characters."""
    for position, old in enumerate(TOKEN):
        for char in B64URL:
            if char == old:
                continue
            with pytest.raises(codec.VerifyError):
                codec.verify(TOKEN[:position] + char + TOKEN[position + 1 :], RING, now=NOW)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=600))
def test_random_text_never_verifies(text: str) -> None:
    with pytest.raises(codec.VerifyError):
        codec.verify(text, RING, now=NOW)


@settings(max_examples=300, deadline=None)
@given(
    st.tuples(
        st.text(alphabet=B64URL, min_size=1, max_size=60),
        st.text(alphabet=B64URL, min_size=0, max_size=40),
        st.text(alphabet=B64URL, min_size=0, max_size=100),
    )
)
def test_random_token_shaped_strings_never_verify(parts: tuple[str, str, str]) -> None:
    with pytest.raises(codec.VerifyError):
        codec.verify(".".join(parts), RING, now=NOW)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    alg=st.sampled_from(["EdDSA", "none", "HS256", "RS256", "ES256", "Ed25519"]),
    kid=st.one_of(st.sampled_from(sorted(RING.keys)), st.text(max_size=10), st.integers(), st.none()),
    extra=st.dictionaries(st.sampled_from(["typ", "crit", "b64", "jku", "x5u", "cty"]), st.text(max_size=5)),
    payload=st.binary(max_size=40),
    signature=st.binary(max_size=70),
)
def test_forged_tokens_with_any_header_never_verify(
    alg: str, kid: object, extra: dict[str, str], payload: bytes, signature: bytes
) -> None:
    header = make_vectors.header(alg, kid=kid, **extra)
    token = f"{make_vectors.b64url(header)}.{make_vectors.b64url(payload)}.{make_vectors.b64url(signature)}"
    with pytest.raises(codec.VerifyError):
        codec.verify(token, RING, now=NOW)


def test_a_retired_key_keeps_refusing_even_with_a_good_signature() -> None:
    retired = make_vectors.load_keys()["retired"]
    ring = dataclasses.replace(RING, active_kid=retired.kid, signer=retired.private)
    token = codec.sign(CLAIMS, ring)
    with pytest.raises(codec.VerifyError) as refused:
        codec.verify(token, RING, now=NOW)
    assert refused.value.code == "retired_key"


def test_future_iat_is_judged_against_the_real_clock_by_default() -> None:
    soon = codec.sign(dataclasses.replace(CLAIMS, iat=int(time.time()) + 60), RING)
    later = codec.sign(dataclasses.replace(CLAIMS, iat=int(time.time()) + 3600), RING)
    assert codec.verify(soon, RING).claims.serial == CLAIMS.serial
    with pytest.raises(codec.VerifyError) as refused:
        codec.verify(later, RING)
    assert refused.value.code == "issued_in_future"


# QR interoperability: zxing-cpp reads exactly the URL -----------------------------------------------


def _decode(image: Image.Image) -> list[str]:
    return [b.text for b in zxingcpp.read_barcodes(image) if b.format == zxingcpp.BarcodeFormat.QRCode]


URL = f"{BASE_URLS_32[0]}/q/{TOKEN}"


@pytest.mark.parametrize("size", [64, 180, 512, 1024])
def test_png_decodes_to_exactly_the_url(size: int) -> None:
    data = render.png(URL, size)
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    width = render.encode(URL).width
    assert image.size[0] == image.size[1] == width * max(1, size // width)
    results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)  # no phantom linear codes
    assert [b.text for b in results] == [URL]
    assert results[0].ec_level == "M"
    extra = cast(dict[str, str], results[0].extra)
    assert int(extra["Version"]) == render.encode(URL).version


def _rasterise_svg_paths(svg_text: str) -> tuple[int, np.ndarray]:
    root = ET.fromstring(svg_text)  # noqa: S314 - our own output
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    _, _, width_text, height_text = root.attrib["viewBox"].split()
    assert width_text == height_text
    width = int(width_text)
    grid = np.zeros((width, width), dtype=bool)
    paths = root.findall("{http://www.w3.org/2000/svg}path")
    assert len(paths) == 1 and paths[0].attrib["fill"] == "#000"
    d = paths[0].attrib["d"]
    runs = re.findall(r"M(\d+) (\d+)h(\d+)v1h-(\d+)z", d)
    assert "".join(f"M{x} {y}h{n}v1h-{m}z" for x, y, n, m in runs) == d  # nothing else in the path
    for x, y, n, m in runs:
        assert n == m
        grid[int(y), int(x) : int(x) + int(n)] = True
    return width, grid


@pytest.mark.parametrize("size", [128, 512])
def test_svg_is_well_formed_and_draws_exactly_the_code(size: int) -> None:
    svg_text = render.svg(URL, size).decode("utf-8")
    root = ET.fromstring(svg_text)  # noqa: S314 - our own output
    assert (root.attrib["width"], root.attrib["height"]) == (str(size), str(size))
    rect = root.find("{http://www.w3.org/2000/svg}rect")
    assert rect is not None and rect.attrib["fill"] == "#fff"
    width, grid = _rasterise_svg_paths(svg_text)
    matrix = render.encode(URL)
    assert width == matrix.width
    assert np.array_equal(grid, matrix.modules)
    # Draw what the SVG paths say and read it back with zxing-cpp.
    image = Image.fromarray(np.where(grid, 0, 255).astype(np.uint8), mode="L").resize(
        (width * 4, width * 4), Image.Resampling.NEAREST
    )
    assert _decode(image) == [URL]


def test_sticker_decodes_to_exactly_the_url_with_or_without_a_cjk_font() -> None:
    data = render.sticker_png(URL, title="光明区电动单车电子身份证", public_id="028T5CY4TQKFF", caption="粤B 12345")
    assert _decode(Image.open(io.BytesIO(data)).convert("L")) == [URL]


# JOSE interoperability: the JWKS from the endpoint is all an outside verifier needs ----------------


async def test_joserfc_verifies_an_issued_code_from_the_served_jwks_alone(client: httpx.AsyncClient) -> None:
    credential = await service.issue(kind="building", subject_id="house-1")
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    jwks_json = response.text
    key_set = KeySet.import_key_set(json.loads(jwks_json))

    raw_id = codec.decode_public_id(credential.public_id)
    assert raw_id is not None
    expected = struct.pack(">BB8sII", 1, KINDS["building"], raw_id, 1, int(credential.issued_at.timestamp()))
    assert len(expected) == 18
    with warnings.catch_warnings():
        # joserfc 1.8 flags the polymorphic "EdDSA" name (RFC 9864 prefers "Ed25519"); still verified.
        warnings.simplefilter("ignore", SecurityWarning)
        obj = jws.deserialize_compact(credential.token, key_set, algorithms=["EdDSA"])
        assert obj.payload == expected
        assert obj.headers() == {"alg": "EdDSA", "kid": response.json()["keys"][0]["kid"]}
        header, payload, signature = credential.token.split(".")
        forged = f"{header}.{make_vectors.flip_char(payload, 3)}.{signature}"
        with pytest.raises(BadSignatureError):
            jws.deserialize_compact(forged, key_set, algorithms=["EdDSA"])


async def test_pyjwt_loads_every_served_key_and_verifies_the_code(client: httpx.AsyncClient) -> None:
    credential = await service.issue(kind="ebike", subject_id="bike-1")
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert jwks["keys"]
    for entry in jwks["keys"]:
        key = jwt.PyJWK(entry)
        assert (key.key_type, key.algorithm_name, key.key_id) == ("OKP", "EdDSA", entry["kid"])
    key = jwt.PyJWK(jwks["keys"][0])
    payload = jwt.api_jws.PyJWS().decode(credential.token, key=key, algorithms=["EdDSA"])
    assert codec.unpack_claims(payload).public_id_text == credential.public_id


async def test_served_png_decodes_to_the_credential_url_and_that_token_verifies_offline(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    credential = await service.issue(kind="ebike", subject_id="bike-2", node_path=None)
    admin = await make_account(Role.ADMIN)
    headers = auth(await token_for(app, admin))
    info = (await client.get(f"/api/v1/credentials/{credential.public_id}", headers=headers)).json()
    assert info["url"] == f"https://eid.example.cn/q/{credential.token}"
    png = await client.get(f"/api/v1/credentials/{credential.public_id}/qr.png?size=300", headers=headers)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    texts = _decode(Image.open(io.BytesIO(png.content)))
    assert texts == [info["url"]]
    token = texts[0].rsplit("/q/", 1)[1]
    key_set = KeySet.import_key_set((await client.get("/.well-known/jwks.json")).json())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        assert len(jws.deserialize_compact(token, key_set, algorithms=["EdDSA"]).payload) == 18


@pytest.mark.parametrize(
    "header",
    [
        '{"alg":"EdDSA","kid":"%s","kid":"%s"}',  # duplicate key
        '{ "alg": "EdDSA", "kid": "%s" }',  # other spacing
        '{"kid":"%s","alg":"EdDSA"}',  # other order
        '{"alg":"EdDSA","kid":"%s","typ":"JWT"}',  # an extra field
        '\ufeff{"alg":"EdDSA","kid":"%s"}',  # byte-order mark
    ],
)
def test_a_validly_signed_code_with_a_non_canonical_header_is_refused(header: str) -> None:
    """Even the key holder cannot mint a second spelling of a code: one code, one header."""
    kid = RING.active_kid
    text = header % ((kid, kid) if header.count("%s") == 2 else (kid,))
    header_b64 = b64url(text.encode("utf-8"))
    payload_b64 = b64url(codec.pack_claims(CLAIMS))
    signature = RING.signer.sign(f"{header_b64}.{payload_b64}".encode("ascii"))
    with pytest.raises(codec.VerifyError) as refused:
        codec.verify(f"{header_b64}.{payload_b64}.{b64url(signature)}", RING, now=NOW)
    assert refused.value.code == "malformed"

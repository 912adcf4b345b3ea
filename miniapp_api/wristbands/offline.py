"""The reference offline decision (``gmid checkins verify-offline``): verify a bundle with the JWKS,
find the band by its salted hash, and decide with engine.decide under the rules in force at the
check-in's time, exactly as the server decides online. No database: a checkpoint app does the same."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import jwt

from miniapp_api.wristbands import bundle, engine


class BadBundle(ValueError):
    """The document is not a valid, current bundle (or the band id is no BLE id)."""


def verify(token: str, jwks: dict[str, Any], *, at: dt.datetime) -> dict[str, Any]:
    """The bundle's payload, after checking its type, signature (the kid's key) and lifetime at ``at``."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise BadBundle("not a compact JWS") from exc
    if header.get("typ") != bundle.TYP or header.get("alg") != "EdDSA":
        raise BadBundle(f"not a check-in bundle (typ {header.get('typ')!r})")
    key = next((k for k in jwks.get("keys", []) if isinstance(k, dict) and k.get("kid") == header.get("kid")), None)
    if key is None:
        raise BadBundle("signed by a key the JWKS does not hold")
    try:
        payload: dict[str, Any] = jwt.decode(
            token, key=jwt.PyJWK(key), algorithms=["EdDSA"], options={"verify_exp": False, "require": ["exp"]}
        )
    except jwt.PyJWTError as exc:
        raise BadBundle(f"bad signature or claims ({type(exc).__name__})") from exc
    if not isinstance(payload.get("exp"), int) or at.timestamp() >= payload["exp"]:
        raise BadBundle("expired: fetch a new bundle")
    if not isinstance(payload.get("salt"), str) or not isinstance(payload.get("entries"), list):
        raise BadBundle("no salt or entries")
    return payload


def rules_of(payload: dict[str, Any]) -> list[engine.Rules]:
    try:
        return [
            engine.Rules(
                effective_from=dt.datetime.fromisoformat(r["effective_from"]),
                fever_celsius=float(r["fever_celsius"]),
                trip_window_days=int(r["trip_window_days"]),
                stop_statuses=frozenset(r["stop_statuses"]),
                quarantine_stops=bool(r["quarantine_stops"]),
            )
            for r in payload.get("rules", [])
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise BadBundle("unreadable rules") from exc


def windows_for(payload: dict[str, Any], band_hash: str) -> list[engine.Window]:
    """The band's windows: its last entry in the bundle (a later entry replaces an earlier one)."""
    found: Sequence[dict[str, Any]] = []
    for entry in payload["entries"]:
        if isinstance(entry, dict) and entry.get("h") == band_hash:
            found = entry.get("w") or []
    try:
        return [engine.Window.from_json(w) for w in found]
    except (KeyError, TypeError, ValueError) as exc:
        raise BadBundle("unreadable windows") from exc


def decide(payload: dict[str, Any], *, ble_id: str, temperature: float, at: dt.datetime) -> engine.Verdict:
    try:
        h = bundle.band_hash(payload["salt"], ble_id)
    except ValueError as exc:
        raise BadBundle("the band id is not a BLE identifier, or the salt is unreadable") from exc
    rules = engine.rules_at(rules_of(payload), at)
    return engine.decide(at=at, temperature=temperature, band_valid=True, windows=windows_for(payload, h), rules=rules)

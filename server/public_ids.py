"""Public ids of rows: a short prefix that says what the row is (``dv_``, ``wb_``, ``rp_``) and 78
random bits, 16 characters in all: unguessable, so an id never tells how many rows exist."""

from __future__ import annotations

import secrets


def new(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(10)[:13]


def plausible(public_id: str) -> bool:
    """A path id that could be one of ours (16 characters at most): anything else is simply not found."""
    return 0 < len(public_id) <= 16

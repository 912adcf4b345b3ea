"""Conditional GET: does an If-None-Match header match our ETag (RFC 9110, weak comparison)?"""

from __future__ import annotations


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    ours = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == ours for tag in if_none_match.split(","))

"""The opaque id an employer knows a candidate by: stable for one posting, different for every other posting
(two postings' candidate lists cannot be joined to follow one person), not the account id and not guessable
without the blind-index key (a keyed HMAC through the PII vault, as the other blind indexes)."""

from __future__ import annotations

from identity import pii

PREFIX = "jc_"
LENGTH = 16  # hex characters after the prefix: 64 bits


def candidate_id(posting_public_id: str, account_id: int) -> str:
    digest = pii.current_vault().blind_index(f"{posting_public_id}:{account_id}", field="jobs.candidate")
    return PREFIX + digest[:LENGTH]


def find(posting_public_id: str, candidate: str, account_ids: list[int]) -> int | None:
    """The account among ``account_ids`` (the posting's visible seekers) that ``candidate`` names, or None: the
    id is recomputed, never stored, so an id of another posting names nobody here."""
    if not candidate.startswith(PREFIX) or len(candidate) != len(PREFIX) + LENGTH:
        return None
    for account_id in account_ids:
        if candidate_id(posting_public_id, account_id) == candidate:
            return account_id
    return None

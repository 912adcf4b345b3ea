"""Candidate ids: stable per posting, unlinkable across postings, naming nobody outside the posting's list."""

from __future__ import annotations

import httpx

from miniapp_api.jobs.candidates import PREFIX, candidate_id, find


async def test_stable_per_posting_different_across_postings(client: httpx.AsyncClient) -> None:
    a = candidate_id("jp_one", 42)
    assert a == candidate_id("jp_one", 42) and a.startswith(PREFIX)
    # The account's number shows nowhere in its id. (A long number: a keyed digest may start with "42" by
    # chance, once in 256 keys, and the key is made anew for each install.)
    assert "987654321" not in candidate_id("jp_one", 987654321)
    assert candidate_id("jp_two", 42) != a
    assert candidate_id("jp_one", 43) != a
    assert find("jp_one", a, [41, 42, 43]) == 42
    assert find("jp_two", a, [41, 42, 43]) is None  # another posting's id names nobody here
    assert find("jp_one", a, [41, 43]) is None  # not among this posting's visible seekers
    for bad in ("", "jc_", "42", "jc_" + "0" * 16, "x" * 500):
        assert find("jp_one", bad, [41, 42, 43]) is None

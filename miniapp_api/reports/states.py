"""The report state machine: one table of allowed transitions, each guarded by role.

A transition not in the table is refused (409) with the actions allowed from the current state, so a
client can always say what is possible. Scope (which part of the hierarchy an account may act on) is
checked by the service, on top of the role.

    submitted --accept--> accepted --dispatch--> dispatched --start--> in_progress --resolve--> resolved
    resolved --confirm--> confirmed --close--> closed
    dispatched --reject (退单, reason)--> rejected --dispatch--> dispatched
    submitted/accepted --return--> returned --resubmit--> submitted
    resolved/confirmed --reopen (unsatisfied)--> reopened --dispatch--> dispatched
    submitted/accepted/returned/reopened --merge--> merged (into another open report)

Separation of duties (like Amsterdam Signalen's): whoever filed a report never handles it (accept,
dispatch, start, reject, resolve, close, return, merge: another person does), and only a resident
rates the handling of their own report (confirm): staff who file a report (grid staff, party
members) may resubmit or reopen it, but its satisfaction is never theirs to give. A report with no
rating is closed from ``resolved`` by someone else. See ``filer_may``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from identity.roles import Role


class State(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    DISPATCHED = "dispatched"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CONFIRMED = "confirmed"
    CLOSED = "closed"
    REJECTED = "rejected"
    RETURNED = "returned"
    REOPENED = "reopened"
    MERGED = "merged"


OPEN_STATES = frozenset(
    {
        State.SUBMITTED,
        State.ACCEPTED,
        State.DISPATCHED,
        State.IN_PROGRESS,
        State.REJECTED,
        State.RETURNED,
        State.REOPENED,
    }
)
FINAL_STATES = frozenset({State.CLOSED, State.MERGED})

REPORTER = "reporter"  # the account that filed the report, whatever its role
GRID = (Role.GRID_STAFF, Role.ADMIN)
HANDLERS = (Role.OFFICER, Role.GRID_STAFF, Role.ADMIN)


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[State]
    target: State
    roles: tuple[Role | str, ...]
    needs_note: bool = False  # a reason is required (reject, return)


TRANSITIONS: tuple[Transition, ...] = (
    Transition("accept", frozenset({State.SUBMITTED}), State.ACCEPTED, GRID),
    Transition("dispatch", frozenset({State.ACCEPTED, State.REJECTED, State.REOPENED}), State.DISPATCHED, GRID),
    Transition("start", frozenset({State.DISPATCHED}), State.IN_PROGRESS, HANDLERS),
    Transition("reject", frozenset({State.DISPATCHED, State.IN_PROGRESS}), State.REJECTED, HANDLERS, True),
    Transition("resolve", frozenset({State.IN_PROGRESS}), State.RESOLVED, HANDLERS),
    Transition("confirm", frozenset({State.RESOLVED}), State.CONFIRMED, (REPORTER,)),
    Transition("reopen", frozenset({State.RESOLVED, State.CONFIRMED}), State.REOPENED, (REPORTER,), True),
    Transition("close", frozenset({State.CONFIRMED, State.RESOLVED}), State.CLOSED, GRID),
    Transition("return", frozenset({State.SUBMITTED, State.ACCEPTED}), State.RETURNED, GRID, True),
    Transition("resubmit", frozenset({State.RETURNED}), State.SUBMITTED, (REPORTER,)),
    Transition(
        "merge",
        frozenset({State.SUBMITTED, State.ACCEPTED, State.RETURNED, State.REOPENED}),
        State.MERGED,
        GRID,
    ),
)

BY_ACTION: dict[str, Transition] = {t.action: t for t in TRANSITIONS}


def allowed_actions(state: State) -> list[str]:
    return [t.action for t in TRANSITIONS if state in t.sources]


def find(action: str, state: State) -> Transition | None:
    transition = BY_ACTION.get(action)
    if transition is None or state not in transition.sources:
        return None
    return transition


def may(transition: Transition, role: Role, *, is_reporter: bool) -> bool:
    return role in transition.roles or (is_reporter and REPORTER in transition.roles)


# What the person who filed a report may never do to it, whatever their role: handle it.
HANDLING = frozenset({"accept", "dispatch", "start", "reject", "resolve", "close", "return", "merge"})
# Rating the handling (confirm, with satisfaction 1-5) counts in the district's satisfaction figures:
# only a resident rates, and only their own report. Staff who filed one do not.
RATERS = frozenset({Role.RESIDENT})


def filer_may(action: str, role: Role) -> bool:
    """Whether the account that filed a report may take ``action`` on it (on top of ``may``)."""
    if action in HANDLING:
        return False
    return not (action == "confirm" and role not in RATERS)

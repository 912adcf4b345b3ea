"""The state before each migration operation, built only when the operation reads it.

Tortoise's migration executor clones the whole project state before every operation, to hand the
operation the state it started from, and a clone renders every model class again (about 40 ms for
our 60-odd models, 5 s of CPU for a first ``gmid migrate`` of some 100 operations). Most operations
never look at it: creating a table reads the new state, raw SQL none. Here the clone copies the models'
descriptions at once (cheap, so later operations cannot change them) and renders the classes from
that copy on first use, which gives an operation that reads them exactly what the eager clone gave.
"""

from __future__ import annotations

from tortoise.migrations.schema_generator.state import ModelState, State
from tortoise.migrations.schema_generator.state_apps import StateApps


class _LazyState(State):
    """A ``State`` whose ``apps`` are rendered from its models the first time they are read."""

    def __init__(self, models: dict[tuple[str, str], ModelState], source: StateApps) -> None:
        self.models = models
        self._source: StateApps | None = source
        self._apps: StateApps | None = None

    @property
    def apps(self) -> StateApps:
        if self._apps is None:
            assert self._source is not None
            self._apps = self._source.clone(model_states=self.models)
            self._source = None
        return self._apps

    @apps.setter
    def apps(self, value: StateApps) -> None:
        self._apps, self._source = value, None


def _clone(self: State) -> State:
    models = {key: model.clone() for key, model in self.models.items()}
    return _LazyState(models, self.apps)


def install() -> None:
    """Make ``State.clone`` lazy (idempotent)."""
    State.clone = _clone  # type: ignore[method-assign]

"""The state before a migration operation, built lazily (server/migration_state.py), is the state as it
was before the operation, however later operations change the live one."""

from __future__ import annotations

from tortoise import fields
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_generator.state import State
from tortoise.migrations.schema_generator.state_apps import StateApps

from server import migration_state


def _fields(state: State, model: str) -> set[str]:
    return set(state.apps.get_model(f"models.{model}")._meta.fields_map)


def test_a_clone_read_after_later_operations_shows_the_state_it_was_taken_from() -> None:
    migration_state.install()
    state = State(models={}, apps=StateApps())
    ops.CreateModel(
        name="Bike",
        fields=[("id", fields.IntField(primary_key=True)), ("plate", fields.CharField(max_length=12))],
        options={"table": "bike"},
    ).state_forward("models", state)
    before = state.clone()

    ops.RemoveField(model_name="Bike", name="plate").state_forward("models", state)
    ops.AddField(model_name="Bike", name="frame_no", field=fields.CharField(max_length=17)).state_forward(
        "models", state
    )
    ops.AlterField(model_name="Bike", name="frame_no", field=fields.CharField(max_length=20)).state_forward(
        "models", state
    )
    ops.CreateModel(name="Owner", fields=[("id", fields.IntField(primary_key=True))]).state_forward("models", state)

    # Rendered only now, after all of that: still the Bike of before, and no Owner.
    assert _fields(before, "Bike") == {"id", "plate"}
    assert set(before.apps.apps["models"]) == {"Bike"}
    assert _fields(state, "Bike") == {"id", "frame_no"}
    assert before.apps.get_model("models.Bike")._meta.db_table == "bike"
    # Its classes are its own: the live state's are other classes.
    assert before.apps.get_model("models.Bike") is not state.apps.get_model("models.Bike")


def test_installing_twice_changes_nothing() -> None:
    migration_state.install()
    clone = State.clone
    migration_state.install()
    assert State.clone is clone

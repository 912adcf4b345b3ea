"""Retraining the report classifier: the public labelled citizen messages plus what people here said
about our own reports (the categories grid staff confirmed or corrected, and the reports dispatched as
filed). ``gmid reports train`` runs it and saves a new version under var/models/classifier; every app
instance picks the new version up within half a minute (until then, and on a fresh install, apps use the
model shipped in the package, trained on the public messages alone: ``make model`` remakes it)."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from miniapp_api.clinic import classifier
from miniapp_api.clinic.analysis import model_dir
from miniapp_api.clinic.models import CategoryFeedback
from miniapp_api.reports.models import Category, Report, ReportEvent

MAX_LOCAL = 50_000  # the newest of our own confirmed reports taken into a training run


@dataclass(frozen=True)
class TrainingSet:
    samples: list[tuple[str, str]]  # (text, label: the category's Chinese name)
    public: int
    corrected: int
    confirmed: int
    data: dict[str, Any]  # recorded in the model's header: the public file (name, rows, SHA-256), our own counts


async def training_set(messages: Path | None = None) -> TrainingSet:
    path = messages or classifier.messages_path()
    public = await asyncio.to_thread(classifier.read_messages, path)
    data: dict[str, Any] = {"file": path.name, "rows": len(public)}
    data["sha256"] = await asyncio.to_thread(classifier.data_sha256, path)
    names = {c.key: c.name for c in await Category.all()}
    feedback = await CategoryFeedback.all().order_by("-id").limit(MAX_LOCAL).values("report_id", "text", "category_key")
    local = [(f["text"], names[f["category_key"]]) for f in feedback if f["category_key"] in names]
    judged = {f["report_id"] for f in feedback}
    # A report dispatched as filed: a grid worker read it and let its category stand.
    dispatched = (
        ReportEvent.filter(action="dispatch").order_by("-id").limit(MAX_LOCAL).values_list("report_id", flat=True)
    )
    ids = [i for i in dict.fromkeys(await dispatched) if i not in judged]
    by_id = {c.id: c.name for c in await Category.all()}
    confirmed = (
        [
            (r["text"], by_id[r["category_id"]])
            for r in await Report.filter(id__in=ids).values("text", "category_id")
            if r["category_id"] in by_id
        ]
        if ids
        else []
    )
    data |= {"corrected": len(local), "confirmed": len(confirmed)}
    return TrainingSet(public + local + confirmed, len(public), len(local), len(confirmed), data)


async def retrain(var_dir: str | Path, messages: Path | None = None) -> tuple[classifier.Classifier, Path, TrainingSet]:
    """Train on everything known now and save it as the next version (CPU-bound: in a thread)."""
    found = await training_set(messages)
    model = await asyncio.to_thread(functools.partial(classifier.train, found.samples, data=found.data))
    path = await asyncio.to_thread(classifier.save, model, model_dir(var_dir))
    return model, path, found

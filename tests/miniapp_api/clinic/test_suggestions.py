"""The classifier's advisory suggestion over HTTP, off the request path: a trained model (saved under
var/, as `gmid reports train` does; else the model shipped in the package) suggests a category and the
department routing would pick; a person confirms or corrects it and the correction becomes training
data; a broken model or none at all never stops a report."""

from __future__ import annotations

import csv
import gzip
import io
import random
import shutil
import threading
from pathlib import Path

import httpx
import pytest
from sanic import Sanic

from identity.roles import Role
from miniapp_api.clinic import analysis, classifier, training
from miniapp_api.clinic.models import CategoryFeedback
from miniapp_api.reports import events
from miniapp_api.reports.models import ReportEvent
from server.settings import Settings
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.reports.test_closed_loop import submit
from tests.support.cli import gmid

POLLUTION = "工厂每天晚上偷偷排放黑烟，河里的水也被污染发臭了，附近居民呼吸困难，请环保部门查处"


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A version under var/ as training writes it: the shipped model saved as v1 (training the whole
    takes minutes; `gmid reports train` is tested on a sample below)."""
    directory = tmp_path_factory.mktemp("model") / "classifier"
    classifier.save(classifier.load_shipped(), directory)
    return directory


def install(trained: Path, settings: Settings) -> None:
    shutil.copytree(trained, analysis.model_dir(settings.var_dir), dirs_exist_ok=True)


async def insight(client: httpx.AsyncClient, headers: dict[str, str], report_id: str) -> dict[str, object]:
    await events.drain()
    response = await client.get(f"/api/v1/clinic/reports/{report_id}/insight", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_a_new_report_gets_a_suggestion_and_a_correction_is_kept(
    app: Sanic, client: httpx.AsyncClient, settings: Settings, trained: Path
) -> None:
    install(trained, settings)
    analysis.set_cache(analysis.ModelCache(analysis.model_dir(settings.var_dir)))
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    report = await submit(client, resident, category="other", text=POLLUTION)
    seen = await insight(client, grid.headers, report["id"])
    assert seen["analysed"] is True and seen["model_version"]
    assert seen["suggested_category"] == "environment" and seen["suggested_department"] == "hbj"
    assert 0 < float(seen["confidence"]) <= 1  # type: ignore[arg-type]

    corrected = await client.put(
        f"/api/v1/reports/{report['id']}/category", json={"category": "environment"}, headers=grid.headers
    )
    assert corrected.status_code == 200 and corrected.json()["category"] == "environment"
    [kept] = await CategoryFeedback.all()
    assert (kept.category_key, kept.suggested_key, kept.corrected) == ("environment", "environment", False)
    assert await ReportEvent.filter(action="recategorise").count() == 1
    found = await training.training_set()
    assert (POLLUTION, "环境保护") in found.samples and found.corrected == 1

    refused = await client.put(
        f"/api/v1/reports/{report['id']}/category", json={"category": "nope"}, headers=grid.headers
    )
    assert refused.status_code == 422
    resident_try = await client.put(
        f"/api/v1/reports/{report['id']}/category", json={"category": "other"}, headers=resident.headers
    )
    assert resident_try.status_code == 403


async def test_a_fresh_install_suggests_with_the_shipped_model(
    app: Sanic, client: httpx.AsyncClient, settings: Settings
) -> None:
    # Nothing trained under var/ (a first `make run`): the model shipped in the package suggests.
    assert not analysis.model_dir(settings.var_dir).exists()
    analysis.set_cache(analysis.cache_for(settings))
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    report = await submit(client, resident, category="other", text=POLLUTION)
    seen = await insight(client, grid.headers, report["id"])
    shipped = classifier.load_shipped()
    assert seen["analysed"] is True and seen["model_version"] == shipped.version
    assert str(seen["model_version"]).startswith("shipped-")
    assert seen["suggested_category"] == "environment" and seen["suggested_department"] == "hbj"


async def test_without_a_model_or_with_a_broken_one_reports_are_accepted(
    app: Sanic, client: httpx.AsyncClient, settings: Settings
) -> None:
    # No model at all (none trained here and the shipped one refused, e.g. stale): no suggestion.
    analysis.set_cache(analysis.ModelCache(analysis.model_dir(settings.var_dir), fallback=None))
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    first = await submit(client, resident, text=POLLUTION)
    seen = await insight(client, grid.headers, first["id"])
    assert seen["analysed"] is True and seen["suggested_category"] is None and seen["model_version"] is None

    broken = analysis.model_dir(settings.var_dir) / "v9"
    broken.mkdir(parents=True)
    (broken / "model.npz").write_bytes(b"not a model")
    (broken / "meta.json").write_text("{")
    analysis.set_cache(analysis.ModelCache(analysis.model_dir(settings.var_dir), fallback=None))
    second = await submit(client, resident, text=POLLUTION)
    assert second["state"] == "submitted"
    assert (await insight(client, grid.headers, second["id"]))["suggested_category"] is None

    # A broken version and nothing else trained here: the shipped model stands in.
    analysis.set_cache(analysis.cache_for(settings))
    third = await submit(client, resident, text=POLLUTION)
    seen = await insight(client, grid.headers, third["id"])
    assert seen["suggested_category"] == "environment" and str(seen["model_version"]).startswith("shipped-")


async def test_a_model_slower_than_its_timeout_is_not_waited_for(
    app: Sanic, client: httpx.AsyncClient, settings: Settings, trained: Path
) -> None:
    # A real model that takes longer than GMID_CLINIC_PREDICT_TIMEOUT_MS (a huge model, a machine
    # out of CPU): the report is accepted at once, analysed without a suggestion, and nothing waits.
    install(trained, settings)
    cache = analysis.cache_for(settings.replace(clinic_predict_timeout_ms=200))
    model = await cache.refresh()
    assert model is not None and cache.timeout == 0.2
    release, returned = threading.Event(), threading.Event()
    predict = model.predict

    def slow(text: str) -> classifier.Suggestion | None:
        release.wait(10)
        try:
            return predict(text)
        finally:
            returned.set()

    model.predict = slow  # type: ignore[method-assign]
    analysis.set_cache(cache)
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    try:
        report = await submit(client, resident, text=POLLUTION)
        assert report["state"] == "submitted"
        seen = await insight(client, grid.headers, report["id"])
        # The timeout, not the model, ended the wait: the analysis is done while the model still runs
        # (a clock bound here failed on a loaded machine).
        assert not returned.is_set()
    finally:
        release.set()
    assert seen["analysed"] is True and seen["suggested_category"] is None
    assert seen["model_version"] == model.version


def _sample_messages(path: Path, per_label: int) -> Path:
    rows, rng = classifier.read_messages(classifier.BUNDLED), random.Random(7)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "title", "text", "label"])
    for label in sorted({label for _, label in rows}):
        writer.writerows(
            ["", "", text, label] for text, label in rng.sample([r for r in rows if r[1] == label], per_label)
        )
    path.write_bytes(gzip.compress(out.getvalue().encode("utf-8")))
    return path


async def test_gmid_reports_train_saves_a_new_version_the_app_loads(settings: Settings, tmp_path: Path) -> None:
    # The app starts on the shipped model; a version trained here replaces it in running apps.
    cache = analysis.cache_for(settings)
    first = await cache.refresh()
    assert first is not None and first.version.startswith("shipped-")
    # A sample of the messages: the whole takes minutes (`make model` does it for the shipped model).
    messages = _sample_messages(tmp_path / "messages.csv.gz", 60)
    code, stdout, stderr = await gmid(settings, "reports", "train", "--messages", str(messages))
    assert code == 0, stderr
    assert "trained v1 on 420 texts (420 public messages" in stdout
    assert str(analysis.model_dir(settings.var_dir)) in stdout
    model = await cache.refresh()
    assert model is not None and model.version == "v1"
    assert model.data["sha256"] == classifier.data_sha256(messages) and model.data["rows"] == 420
    assert model.metadata["cv_folds"] == classifier.FOLDS and "trained_at" in model.metadata
    suggestion = model.predict(POLLUTION)
    assert suggestion is not None and suggestion.label == "环境保护"
    code, stdout, stderr = await gmid(settings, "reports", "train", "--if-missing")
    assert code == 0 and stdout.strip() == f"classifier {model.version} present; not retrained", stderr
    assert sorted(p.name for p in analysis.model_dir(settings.var_dir).iterdir()) == [model.version]
    # --ship remakes the package's own model from the bundled messages alone: nothing else mixed in.
    code, stdout, stderr = await gmid(settings, "reports", "train", "--ship", "--messages", str(messages))
    assert code == 2 and "bundled messages alone" in stderr and stdout == ""

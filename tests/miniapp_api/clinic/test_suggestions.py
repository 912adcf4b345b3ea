"""The classifier's advisory suggestion over HTTP, off the request path: a trained model (saved under
var/, as `gmid reports train` does) suggests a category and the department routing would pick; a
person confirms or corrects it and the correction becomes training data; a broken model or none at
all never stops a report."""

from __future__ import annotations

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
    """One model for the session, trained on the bundled public messages."""
    directory = tmp_path_factory.mktemp("model") / "classifier"
    model = classifier.train(classifier.read_messages(classifier.messages_path()))
    classifier.save(model, directory)
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


async def test_without_a_model_or_with_a_broken_one_reports_are_accepted(
    app: Sanic, client: httpx.AsyncClient, settings: Settings
) -> None:
    analysis.set_cache(analysis.ModelCache(analysis.model_dir(settings.var_dir)))
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    first = await submit(client, resident, text=POLLUTION)
    seen = await insight(client, grid.headers, first["id"])
    assert seen["analysed"] is True and seen["suggested_category"] is None and seen["model_version"] is None

    broken = analysis.model_dir(settings.var_dir) / "v9"
    broken.mkdir(parents=True)
    (broken / "model.npz").write_bytes(b"not a model")
    (broken / "meta.json").write_text("{")
    analysis.set_cache(analysis.ModelCache(analysis.model_dir(settings.var_dir)))
    second = await submit(client, resident, text=POLLUTION)
    assert second["state"] == "submitted"
    assert (await insight(client, grid.headers, second["id"]))["suggested_category"] is None


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


async def test_gmid_reports_train_saves_a_new_version_the_app_loads(settings: Settings, trained: Path) -> None:
    code, stdout, stderr = await gmid(settings, "reports", "train")
    assert code == 0, stderr
    assert "trained" in stdout and str(analysis.model_dir(settings.var_dir)) in stdout
    cache = analysis.ModelCache(analysis.model_dir(settings.var_dir))
    model = await cache.refresh()
    assert model is not None
    suggestion = model.predict(POLLUTION)
    assert suggestion is not None and suggestion.label == "环境保护"
    # `make run` trains only the first time.
    code, stdout, stderr = await gmid(settings, "reports", "train", "--if-missing")
    assert code == 0 and stdout.strip() == f"classifier {model.version} present; not retrained", stderr
    assert sorted(p.name for p in analysis.model_dir(settings.var_dir).iterdir()) == [model.version]

"""HTTP route of the employment service's ledger (JSON, CSV or XLSX), scoped to the caller's node."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json, raw

from identity.roles import Role
from miniapp_api.clinic.ledgers import to_csv, to_xlsx
from miniapp_api.jobs import ledger as ledgers
from miniapp_api.jobs.application_schemas import JobLedgerOut, JobLedgerQuery, JobLedgerRowOut
from server.auth import require_principal, requires
from server.validation import errors, query_args, responds

bp = Blueprint("jobs_ledger", url_prefix="/api/v1")

READERS = (Role.EMPLOYMENT_STAFF, Role.ADMIN)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.get("/jobs/ledger", name="jobs.ledger")
@requires(*READERS)
@query_args(JobLedgerQuery)
@responds(200, JobLedgerOut, "Postings, applications, invitations and hires by month × node × occupation")
@errors(422)
async def ledger(request: Request, query: JobLedgerQuery) -> HTTPResponse:
    """The ledger of the postings whose work place lies in your area, by the nodes one level below yours,
    occupation middle group and month (Beijing time); `format=csv` or `xlsx` downloads it."""
    rows = await ledgers.ledger(viewer=require_principal(request), since=query.from_date, until=query.to_date)
    name = f"jobs-ledger-{query.from_date.isoformat()}-{query.to_date.isoformat()}"
    if query.format == "csv":
        body = to_csv(rows, ledgers.COLUMNS)
        return raw(body, content_type="text/csv; charset=utf-8", headers=_download(f"{name}.csv"))
    if query.format == "xlsx":
        return raw(to_xlsx(rows, ledgers.COLUMNS), content_type=XLSX, headers=_download(f"{name}.xlsx"))
    out = JobLedgerOut(items=[JobLedgerRowOut.model_validate(r.public()) for r in rows])
    return json(out.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


def _download(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"}

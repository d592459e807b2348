"""Message export: publish, pages and fetch (utf8 / json / url)."""

from __future__ import annotations

import csv
from typing import Any

from fastapi import APIRouter, Request

from nudge_pipeline.simulator import errors
from nudge_pipeline.simulator.data import Campaign, Run, now_iso
from nudge_pipeline.simulator.draws import export_job_fails, file_is_unparseable
from nudge_pipeline.simulator.errors import ApiError
from nudge_pipeline.simulator.exports import ExportJob
from nudge_pipeline.simulator.files import csv_file_response, presigned_url, storage_path
from nudge_pipeline.simulator.lifecycle import latest_completed
from nudge_pipeline.simulator.messages import recipient_count
from nudge_pipeline.simulator.routes.campaigns import find_campaign, find_run
from nudge_pipeline.simulator.routes.common import (
    authed,
    int_field,
    json_body,
    optional_string,
    require,
    spec,
)
from nudge_pipeline.simulator.state import SimState

router = APIRouter()

JSON_EXPORT_LIMIT = 1000
EXPORT_TYPES = ("utf8", "json", "url")


def _exportable_run(state: SimState, campaign: Campaign, run_id: str | None) -> Run:
    run = find_run(campaign, run_id) if run_id is not None else latest_completed(campaign)
    if run is None or run.status != "completed" or run.message_count <= 0:
        raise ApiError(401, errors.DETAILS_NOT_FOUND)
    if campaign.customer_group_id not in state.world.groups:
        raise ApiError(401, errors.DETAILS_NOT_FOUND)  # no audience left
    return run


def _target(state: SimState, account_id: str, body: dict[str, Any]) -> tuple[Campaign, Run]:
    required = ("campaign_id", "run_id") if state.config.require_run_id else ("campaign_id",)
    require(body, *required)
    with state.world_lock:
        campaign = find_campaign(state, account_id, body)
        run = _exportable_run(state, campaign, optional_string(body, "run_id"))
    return campaign, run


@router.post(
    "/v1/messages/publish",
    openapi_extra=spec({"campaign_id": "string", "run_id": "string"}, ("campaign_id",)),
)
async def publish(request: Request) -> dict[str, Any]:
    state, principal = await authed(request)
    body = await json_body(request)
    require(body, "campaign_id")
    account_id = principal.account.account_id
    with state.world_lock:
        campaign = find_campaign(state, account_id, body)
        run = _exportable_run(state, campaign, optional_string(body, "run_id"))
        group = state.world.groups[campaign.customer_group_id]
        config = state.config
        if not state.stats.try_spend_quota(account_id, config.publish_quota):
            raise ApiError(429, errors.USAGE_LIMIT)
        job = state.exports.publish(
            account_id,
            run,
            group,
            rows_per_file=config.rows_per_file,
            recipients=recipient_count(run, group, config.messages_to_unknown_customers),
            duration=config.export_duration,
            job_seed=f"{config.seed}:{run.run_id}",
            fails=lambda job_id: export_job_fails(config, run.run_id, job_id),
        )
        state.stats.publish_accepted(account_id, run.campaign_id, run.run_id)
        if job.fails:
            state.stats.fault("export_failed")
        if campaign.stage == "Ready to Publish":
            campaign.stage = "Published"
            campaign.updated_at = now_iso()
    return {"job_id": job.job_id, "status": "queued"}


@router.post(
    "/v1/messages/pages",
    openapi_extra=spec({"campaign_id": "string", "run_id": "string"}, ("campaign_id", "run_id")),
)
async def pages(request: Request) -> dict[str, Any]:
    state, principal = await authed(request)
    body = await json_body(request)
    campaign, run = _target(state, principal.account.account_id, body)
    job = state.exports.latest(campaign.campaign_id, run.run_id)
    if job is None:
        return {"num_files": 0}
    answer: dict[str, Any] = {"num_files": job.num_files()}
    if not state.config.pages_omit_status:
        answer["status"] = job.status()
        answer["job_id"] = job.job_id
    return answer


def _json_rows(job: ExportJob, file_num: int) -> list[dict[str, str]]:
    with open(job.files.path(file_num), encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        rows: list[dict[str, str]] = []
        for row in reader:
            if len(rows) == JSON_EXPORT_LIMIT:
                break  # the vendor truncates silently
            rows.append({"customer_id": row["customer_id"], "message": row["message"]})
    return rows


@router.post(
    "/v1/messages/fetch",
    openapi_extra=spec(
        {
            "campaign_id": "string",
            "run_id": "string",
            "file_num": "integer",
            "export_type": "string",
        },
        ("campaign_id", "run_id", "file_num", "export_type"),
    ),
    response_model=None,
    responses={
        200: {
            "description": "utf8: the CSV file. json: up to 1000 rows. url: a pre-signed link.",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        },
        401: {"description": "Missing required fields. / Invalid export option. / not found"},
        404: {"description": "File not found."},
        500: {"description": "Failed to parse."},
    },
)
async def fetch(request: Request) -> Any:
    state, principal = await authed(request)
    body = await json_body(request)
    require(body, "campaign_id", "export_type")
    if body.get("file_num") is None:
        raise ApiError(401, errors.MISSING_FIELDS)
    export_type = body["export_type"]
    if export_type not in EXPORT_TYPES:
        raise ApiError(401, errors.INVALID_EXPORT_OPTION)
    account_id = principal.account.account_id
    campaign, run = _target(state, account_id, body)
    file_num = int_field(body, "file_num")
    job = state.exports.latest(campaign.campaign_id, run.run_id)
    if job is None or not 0 <= file_num < job.num_files():
        raise ApiError(404, errors.FILE_NOT_FOUND)
    if file_is_unparseable(state.config, run.run_id, file_num):
        state.stats.fault("failed_to_parse")
        raise ApiError(500, errors.FAILED_TO_PARSE)
    if export_type == "json":
        return {"data": _json_rows(job, file_num)}
    if export_type == "url":
        path = storage_path(account_id, campaign.campaign_id, run.run_id, file_num)
        ttl = state.config.url_ttl
        return {
            "url": presigned_url(state.url_secret, state.storage_base_url, path, ttl),
            "expires_in": int(ttl),
        }
    return csv_file_response(job.files.path(file_num), f"part-{file_num:05d}.csv")

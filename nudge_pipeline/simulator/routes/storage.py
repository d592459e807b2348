"""The pre-signed download route, served on its own port like a separate storage host."""

from __future__ import annotations

import hmac
import time

from fastapi import APIRouter, Request
from fastapi.responses import Response

from nudge_pipeline.simulator.files import csv_file_response, sign, storage_path
from nudge_pipeline.simulator.routes.common import sim_state

router = APIRouter()

# Headers that belong to the Nudgescribe API and must never reach the storage host.
API_ONLY_HEADERS = frozenset({"authorization", "x-auth-context", "x-api-key"})


def _s3_error(status: int, code: str, message: str) -> Response:
    body = (
        "<?xml version='1.0' encoding='UTF-8'?>"
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return Response(body, status_code=status, media_type="application/xml")


@router.get("/storage/{account_id}/{campaign_id}/{run_id}/{filename}", response_model=None)
async def download(
    request: Request, account_id: str, campaign_id: str, run_id: str, filename: str
) -> Response:
    state = sim_state(request)
    leaked = API_ONLY_HEADERS & {name.lower() for name in request.headers}
    if leaked:
        state.stats.storage_auth_header(set(leaked))
    expires_text = request.query_params.get("X-Expires", "")
    signature = request.query_params.get("X-Signature", "")
    if not expires_text.isdigit() or not filename.startswith("part-"):
        return _s3_error(403, "AccessDenied", "Query-string authentication requires parameters")
    file_num_text = filename.removeprefix("part-").removesuffix(".csv")
    if not file_num_text.isdigit():
        return _s3_error(403, "AccessDenied", "Access Denied")
    file_num = int(file_num_text)
    expires = int(expires_text)
    path = storage_path(account_id, campaign_id, run_id, file_num)
    if not hmac.compare_digest(sign(state.url_secret, path, expires), signature):
        return _s3_error(403, "SignatureDoesNotMatch", "The request signature does not match")
    if time.time() > expires:
        return _s3_error(403, "AccessDenied", "Request has expired")
    job = state.exports.latest(campaign_id, run_id)
    if job is None or job.account_id != account_id or not job.files.path(file_num).exists():
        return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
    return csv_file_response(job.files.path(file_num), filename)

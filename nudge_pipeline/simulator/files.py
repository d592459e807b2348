"""Serving rendered CSV files from disk, and pre-signed URLs for the storage route."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path
from urllib.parse import quote

from starlette.responses import FileResponse

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


def csv_file_response(path: Path, filename: str) -> FileResponse:
    """The rendered file as an attachment with its Content-Length. SimMiddleware offers the
    pathsend extension, so the body goes out with zero-copy sendfile."""
    return FileResponse(path, media_type=CSV_MEDIA_TYPE, filename=filename, stat_result=path.stat())


def storage_path(account_id: str, campaign_id: str, run_id: str, file_num: int) -> str:
    parts = (account_id, campaign_id, run_id, f"part-{file_num:05d}.csv")
    return "/storage/" + "/".join(quote(p, safe="") for p in parts)


def sign(secret: bytes, path: str, expires: int) -> str:
    return hmac.new(secret, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()


def presigned_url(secret: bytes, base_url: str, path: str, ttl: float) -> str:
    expires = int(time.time() + ttl)
    return f"{base_url}{path}?X-Expires={expires}&X-Signature={sign(secret, path, expires)}"

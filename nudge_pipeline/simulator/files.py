"""Serving rendered CSV files from disk, and pre-signed URLs for the storage route."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path
from urllib.parse import quote

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

CSV_MEDIA_TYPE = b"text/csv; charset=utf-8"
_CHUNK = 512 * 1024


class CsvFileResponse(Response):
    """Content-Length, then the file in 512 KiB body messages read synchronously (the files sit
    in the page cache). Measured on loopback this is several times faster than FileResponse's
    64 KiB thread-pool reads; much larger messages make the transport buffer copy."""

    def __init__(self, path: Path, filename: str) -> None:
        super().__init__(status_code=200)
        self.path = path
        self.filename = filename

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with open(self.path, "rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(0)
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", CSV_MEDIA_TYPE),
                        (b"content-length", str(size).encode()),
                        (
                            b"content-disposition",
                            f'attachment; filename="{self.filename}"'.encode(),
                        ),
                    ],
                }
            )
            remaining = size
            while True:
                chunk = handle.read(_CHUNK)
                remaining -= len(chunk)
                await send(
                    {"type": "http.response.body", "body": chunk, "more_body": remaining > 0}
                )
                if remaining <= 0 or not chunk:
                    break


def storage_path(account_id: str, campaign_id: str, run_id: str, file_num: int) -> str:
    parts = (account_id, campaign_id, run_id, f"part-{file_num:05d}.csv")
    return "/storage/" + "/".join(quote(p, safe="") for p in parts)


def sign(secret: bytes, path: str, expires: int) -> str:
    return hmac.new(secret, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()


def presigned_url(secret: bytes, base_url: str, path: str, ttl: float) -> str:
    expires = int(time.time() + ttl)
    return f"{base_url}{path}?X-Expires={expires}&X-Signature={sign(secret, path, expires)}"

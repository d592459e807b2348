"""Error responses in the vendor's shape: {"message": "<text>"}."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse, Response

MISSING_FIELDS = "Missing required fields."
CAMPAIGN_NOT_FOUND = "Campaign not found."
DETAILS_NOT_FOUND = "Campaign/details not found."
FILE_NOT_FOUND = "File not found."
INVALID_EXPORT_OPTION = "Invalid export option."
USAGE_LIMIT = "Usage limit exceeded."
FAILED_TO_PARSE = "Failed to parse."
MALFORMED_JSON = "Malformed JSON"
INVALID_TYPES = "Invalid data types."
AUTH_ERROR = "auth error"
UNAUTHORIZED = "Unauthorized"
JWT_EXPIRED = "jwt expired"
INVALID_TOKEN = "invalid token"  # noqa: S105 (an error text, not a secret)
GROUP_NOT_FOUND = "Customer group not found."
WORKSPACE_NOT_FOUND = "Workspace not found."
RUN_NOT_FOUND = "Run not found."


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def api_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    if not exc.message:
        return Response(status_code=exc.status)  # an empty body, as gateways send
    return JSONResponse({"message": exc.message}, status_code=exc.status)

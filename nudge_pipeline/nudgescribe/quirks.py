"""Every known Nudgescribe quirk, named once.

The rest of the client refers to these names; docs/api-quirks.md explains each one and
points at the test that proves the client copes with it. Paths and fields marked
[assumed] in the API contract live here too, so they can change in one place.
"""

from __future__ import annotations

# --- endpoints ([assumed] paths are not in the vendor pages) -----------------------------
AUTH_PATH = "/v1/auth"  # [assumed] POST = log in, GET = re-authenticate
CAMPAIGNS_PATH = "/v1/campaign/all"
RUN_HISTORY_PATH = "/v1/campaign/rerun/history"  # [assumed]
RUN_MESSAGES_PATH = "/v1/campaign/rerun/messages"  # [assumed]
CUSTOMER_GROUPS_PATH = "/v1/cg"
CUSTOMER_PAGES_PATH = "/v1/customer/pages"  # [assumed]
CUSTOMERS_PATH = "/v1/customer"
PROFILE_FIELDS_PATH = "/v1/fields"  # [assumed]
PUBLISH_PATH = "/v1/messages/publish"
EXPORT_PAGES_PATH = "/v1/messages/pages"
FETCH_PATH = "/v1/messages/fetch"

# Auth failures share status 401 with ordinary request errors ("Missing required fields.",
# "Campaign not found."), so only these messages (or an empty 401/403 body) mean "log in again".
AUTH_FAILURE_MESSAGES = frozenset(
    {"auth error", "unauthorized", "unauthorised", "jwt expired", "invalid token"}
)
# Wordings a server may use for the same failures; matched as substrings.
AUTH_FAILURE_HINTS = ("jwt", "token", "unauthori")

# Re-authenticate (GET /v1/auth) is accepted up to this long after the old token expired.
REAUTH_GRACE_SECONDS = 300.0

# 401 request errors that name a missing object: surfaced as NotFoundError.
NOT_FOUND_MESSAGES = frozenset({"campaign not found", "campaign/details not found"})

# The usage quota answers 429 without Retry-After; retrying only burns time, so it is fatal.
USAGE_LIMIT_HINT = "usage limit"

# The documented "Update Customer Group" example returns keys like "created_at\t".
# Every response key is stripped of surrounding white space before use.

# export_type=json silently stops at 1000 rows; bulk downloads use utf8 or url only.
JSON_EXPORT_ROW_LIMIT = 1000
BULK_EXPORT_TYPES = ("utf8", "url")

# publish on a "Ready to Publish" campaign moves it to "Published" and sends its messages,
# and every publish spends usage quota: never fire it twice for one unknown outcome.
PUBLISH_SIDE_EFFECT_STAGE = "Ready to Publish"

# pages is usage-tracked: poll it with backoff, never in a tight loop.
# While an export runs num_files may be 0 or still growing; status is optional.
EXPORT_STATUS_PROCESSING = "processing"
EXPORT_STATUS_COMPLETED = "completed"
EXPORT_STATUS_FAILED = "failed"

# Pre-signed URLs: plain http is only acceptable on loopback, where the simulator serves.
LOOPBACK_HOSTS = frozenset({"localhost", "::1"})
# An expired pre-signed URL answers 403; the cure is a fresh URL from fetch.
EXPIRED_URL_STATUS = 403
# Headers that must never reach the storage host.
NUDGESCRIBE_ONLY_HEADERS = ("authorization", "x-auth-context", "x-api-key")

# Values that look like ciphertext in extended_profile.
ENCRYPTED_VALUE_PREFIX = "enc:v1:"


def normalise_message(message: str | None) -> str:
    return (message or "").strip().rstrip(".").strip().lower()


def is_auth_failure(status: int, message: str | None) -> bool:
    if status not in (401, 403):
        return False
    text = normalise_message(message)
    if not text:
        return True
    if text in AUTH_FAILURE_MESSAGES:
        return True
    return any(hint in text for hint in AUTH_FAILURE_HINTS)


def is_not_found_message(message: str | None) -> bool:
    return normalise_message(message) in NOT_FOUND_MESSAGES


def is_usage_limit(message: str | None) -> bool:
    return USAGE_LIMIT_HINT in normalise_message(message)

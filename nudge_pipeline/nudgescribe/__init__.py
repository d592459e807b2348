"""Nudgescribe API client: the only code that speaks HTTP to Nudgescribe."""

from .client import NudgescribeClient
from .config import ClientConfig, ConfigError
from .errors import (
    AuthError,
    ContractViolationError,
    DownloadRefusedError,
    ExportFailedError,
    ExportTimeoutError,
    NotFoundError,
    NudgescribeError,
    QuotaExhaustedError,
    RateLimitedError,
    RequestError,
    TransientError,
    UnreachableHostError,
)
from .export import ExportJob
from .models import (
    Campaign,
    CampaignRun,
    Customer,
    CustomerGroup,
    CustomerPageInfo,
    ExportResult,
    ExportStatus,
    ProfileField,
    RunMessage,
    Workspace,
)
from .profile import ProfileDecryptionError, decrypt_profile

__all__ = [
    "AuthError",
    "Campaign",
    "CampaignRun",
    "ClientConfig",
    "ConfigError",
    "ContractViolationError",
    "Customer",
    "CustomerGroup",
    "CustomerPageInfo",
    "DownloadRefusedError",
    "ExportFailedError",
    "ExportJob",
    "ExportResult",
    "ExportStatus",
    "ExportTimeoutError",
    "NotFoundError",
    "NudgescribeClient",
    "NudgescribeError",
    "ProfileDecryptionError",
    "ProfileField",
    "QuotaExhaustedError",
    "RateLimitedError",
    "RequestError",
    "RunMessage",
    "TransientError",
    "UnreachableHostError",
    "Workspace",
    "decrypt_profile",
]

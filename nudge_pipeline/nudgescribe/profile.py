"""Decrypt "enc:v1:<Fernet token>" values of a customer's extended_profile."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from . import quirks
from .redaction import register_secret


class ProfileDecryptionError(ValueError):
    """Wrong or malformed profile key. The message never contains a value or the key."""


def is_encrypted(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(quirks.ENCRYPTED_VALUE_PREFIX)


def profile_cipher(key: str) -> Fernet:
    key = key.strip()
    register_secret(key)
    try:
        return Fernet(key.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ProfileDecryptionError(
            "NUDGESCRIBE_PROFILE_KEY is not a valid Fernet key (32 url-safe base64-encoded bytes)"
        ) from None


def decrypt_profile(extended_profile: Mapping[str, Any], key: str | None) -> dict[str, Any]:
    """Plain values pass through; without a key the ciphertext is returned as received."""
    if not key:
        return dict(extended_profile)
    cipher = profile_cipher(key)
    plain: dict[str, Any] = {}
    for name, value in extended_profile.items():
        if is_encrypted(value):
            token = value[len(quirks.ENCRYPTED_VALUE_PREFIX) :].strip()
            try:
                plain[name] = cipher.decrypt(token.encode("ascii")).decode("utf-8")
            except (InvalidToken, UnicodeError, ValueError):
                raise ProfileDecryptionError(
                    f"profile field {str(name)[:64]!r} could not be decrypted: wrong "
                    "NUDGESCRIBE_PROFILE_KEY for this account, or a corrupted value"
                ) from None
        else:
            plain[name] = value
    return plain

"""Deterministic Fernet tokens, so the same seed gives byte-identical ciphertext."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

ENCRYPTED_PREFIX = "enc:v1:"
_FERNET_VERSION = b"\x80"


def derive_fernet_key(material: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest()).decode()


def fernet_encrypt(key: str, plaintext: str, *, nonce_material: str, timestamp: int) -> str:
    """A valid Fernet token whose IV comes from nonce_material instead of os.urandom."""
    raw_key = base64.urlsafe_b64decode(key)
    signing_key, encryption_key = raw_key[:16], raw_key[16:]
    iv = hashlib.sha256(f"{key}:{nonce_material}".encode()).digest()[:16]
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(encryption_key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    body = _FERNET_VERSION + struct.pack(">Q", timestamp) + iv + ciphertext
    mac = hmac.new(signing_key, body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(body + mac).decode()


def encrypt_profile_value(key: str, plaintext: str, *, nonce_material: str, timestamp: int) -> str:
    token = fernet_encrypt(key, plaintext, nonce_material=nonce_material, timestamp=timestamp)
    return ENCRYPTED_PREFIX + token

"""Claims: a lease on one campaign run, so at most one worker lands (publishes) it at a time.

A claim is a JSON file at ``claim_path(campaign_id, run_id)``. Each change is a compare-and-swap
on the claim last read, so of racing workers exactly one wins: create only where no claim
exists; take over an expired claim only if it is still exactly the one read; renew or release
only while the claim is still ours (same token, unchanged).

Local folder: a new claim is written to a temporary file and ``os.link``ed to its name, which
fails if the name exists: one creator wins and readers never see a partial file. Takeover,
renew and release read, compare and ``os.replace`` or unlink under an exclusive ``flock`` on a
sidecar ``.<name>.lock``; no create slips in, as the claim exists throughout. ``flock`` locks
belong to an open file, so threads exclude each other too; lock files are never deleted (two
workers could then lock two different files). This assumes POSIX semantics. On NFS, ``link``
is atomic on the server, but ``flock`` excludes other hosts only with working NFS locking (not
``nolock`` mounts): share a lake between machines through S3 when in doubt.

S3: conditional writes, atomic on the server: ``If-None-Match: *`` to create, ``If-Match`` with
the ETag read to take over or renew (the loser gets 412; a 409 conflict is retried). Release
deletes with ``If-Match``; a store without conditional deletes gets a plain delete after the
read-compare only while our lease has long to run, so no one can have taken it over; else the
claim stays, harmless: ``acquire`` treats an expired claim as free.

Expiry is judged by each worker's clock: hosts must agree to well within the lease (NTP). A
holder renews well before ``expires_at`` and stops publishing when ``renew`` raises.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow.fs as pafs

from nudge_pipeline.lake.paths import claim_path
from nudge_pipeline.lake.store import Lake, s3_endpoint_and_region

_S3_CONFLICT_RETRIES = 3
# A plain (unconditional) delete needs our lease to outlive one request by far.
_PLAIN_DELETE_MARGIN_SECONDS = 10.0


class ClaimLostError(Exception):
    """Our claim was taken over or removed by someone else."""


@dataclass(frozen=True)
class Claim:
    campaign_id: str
    run_id: str
    holder: str  # who holds it, e.g. "host:pid:uuid4-hex"
    token: str  # unique per acquisition; proves ownership
    expires_at: float  # epoch seconds
    acquired_at: float

    def is_live(self, now: float) -> bool:
        return now < self.expires_at


def new_holder() -> str:
    """A holder name for this process, unique even when a pid is reused: ``host:pid:hex``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"


@dataclass(frozen=True)
class _Seen:
    claim: Claim
    version: object  # the exact stored claim: its bytes (local) or ETag (S3)


def _encode(claim: Claim) -> bytes:
    return json.dumps(dataclasses.asdict(claim), sort_keys=True).encode("utf-8")


def _decode(raw: bytes, rel: str) -> Claim:
    try:
        data = json.loads(raw)
        return Claim(**{field.name: data[field.name] for field in dataclasses.fields(Claim)})
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{rel} is not a claim") from error


class _LocalFiles:
    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def read(self, rel: str) -> _Seen | None:
        raw = self._raw(self.lake.fs_path(rel))
        return None if raw is None else _Seen(_decode(raw, rel), raw)

    def create(self, rel: str, claim: Claim) -> bool:
        final = self.lake.fs_path(rel)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        temp = self._write_temp(final, claim)
        try:
            os.link(temp, final)
        except FileExistsError:
            return False
        finally:
            os.unlink(temp)
        return True

    def swap(self, rel: str, seen: _Seen, claim: Claim) -> bool:
        final = self.lake.fs_path(rel)
        with self._locked(final):
            if self._raw(final) != seen.version:
                return False
            os.replace(self._write_temp(final, claim), final)
        return True

    def delete(self, rel: str, seen: _Seen) -> bool:
        final = self.lake.fs_path(rel)
        with self._locked(final):
            if self._raw(final) != seen.version:
                return False
            os.unlink(final)
        return True

    @staticmethod
    def _raw(path: str) -> bytes | None:
        try:
            with open(path, "rb") as src:
                return src.read()
        except FileNotFoundError:
            return None

    def _write_temp(self, final: str, claim: Claim) -> str:
        # Named like the lake's other temps, so sweep_orphans removes those of killed writers.
        parent, _, name = final.rpartition("/")
        temp = f"{parent}/.{name}.tmp-{uuid.uuid4().hex}"
        with open(temp, "xb") as sink:
            sink.write(_encode(claim))
            if self.lake.fsync != "off":  # else a power cut could leave an empty claim
                sink.flush()
                os.fsync(sink.fileno())
        return temp

    @staticmethod
    @contextlib.contextmanager
    def _locked(final: str) -> Iterator[None]:
        parent, _, name = final.rpartition("/")
        fd = os.open(f"{parent}/.{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock


class _S3Files:
    def __init__(self, lake: Lake, clock: Callable[[], float]) -> None:
        try:
            import boto3
            from botocore.exceptions import ClientError
        except ImportError as error:
            raise ImportError(
                "claims on an s3:// lake need boto3: install nudge-pipeline[s3]"
            ) from error
        endpoint, region = s3_endpoint_and_region()
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint, region_name=region
        )
        self.client_error = ClientError
        self.lake = lake
        self.clock = clock

    def _where(self, rel: str) -> dict[str, str]:
        bucket, _, key = self.lake.fs_path(rel).partition("/")
        return {"Bucket": bucket, "Key": key}

    def read(self, rel: str) -> _Seen | None:
        try:
            answer = self.client.get_object(**self._where(rel))
        except self.client_error as error:
            if _code(error) in ("NoSuchKey", "404"):
                return None
            raise
        return _Seen(_decode(answer["Body"].read(), rel), answer["ETag"])

    def create(self, rel: str, claim: Claim) -> bool:
        return self._put(rel, claim, IfNoneMatch="*")

    def swap(self, rel: str, seen: _Seen, claim: Claim) -> bool:
        return self._put(rel, claim, IfMatch=seen.version)

    def _put(self, rel: str, claim: Claim, **condition: Any) -> bool:
        for attempt in range(_S3_CONFLICT_RETRIES + 1):
            try:
                self.client.put_object(**self._where(rel), Body=_encode(claim), **condition)
                return True
            except self.client_error as error:
                # 409: a concurrent conditional write; retried, it gets 412 if that one won.
                if _code(error) == "ConditionalRequestConflict" and attempt < _S3_CONFLICT_RETRIES:
                    time.sleep(0.05 * (attempt + 1))
                    continue
                if _lost(error):
                    return False
                raise
        return False

    def delete(self, rel: str, seen: _Seen) -> bool:
        try:
            self.client.delete_object(**self._where(rel), IfMatch=seen.version)
            return True
        except self.client_error as error:
            if _lost(error):
                return False
            if _code(error) != "NotImplemented":
                raise
        if seen.claim.expires_at - self.clock() < _PLAIN_DELETE_MARGIN_SECONDS:
            return False
        self.client.delete_object(**self._where(rel))
        return True


def _code(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _lost(error: Any) -> bool:
    """The condition failed (412), conflicted (409), or the claim is gone (404)."""
    return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") in (404, 409, 412)


class ClaimStore:
    """Claims (leases) on campaign runs, kept in the lake: a local folder or S3."""

    def __init__(
        self, lake: Lake, lease_seconds: float = 120.0, clock: Callable[[], float] = time.time
    ) -> None:
        if not lease_seconds > 0:
            raise ValueError(f"lease_seconds must be positive, got {lease_seconds!r}")
        self.lake = lake
        self.lease_seconds = float(lease_seconds)
        self.clock = clock
        self._files: _LocalFiles | _S3Files
        if lake.is_local:
            self._files = _LocalFiles(lake)
        elif isinstance(lake.fs, pafs.S3FileSystem):
            self._files = _S3Files(lake, clock)
        else:
            raise ValueError(f"claims need a local folder or an S3 lake, not {lake!r}")

    def acquire(
        self,
        campaign_id: str,
        run_id: str,
        holder: str,
        abandoned: Callable[[Claim], bool] | None = None,
        on_takeover: Callable[[Claim], None] | None = None,
    ) -> Claim | None:
        """Our new claim, or None while another claim's lease is live (ours too: renew it).

        An expired claim (its holder died, e.g. kill -9) is taken over atomically: exactly one
        contender wins. So is a live one that `abandoned` knows to be dead already (a holder
        process on this host that is gone), without waiting for its lease. `on_takeover` then
        gets the dead claim, to clear what its holder left half written.
        """
        rel = claim_path(campaign_id, run_id)
        now = self.clock()
        claim = Claim(campaign_id, run_id, holder, uuid.uuid4().hex, now + self.lease_seconds, now)
        if self._files.create(rel, claim):
            return claim
        seen = self._files.read(rel)
        if seen is None:  # released since: one more try at creating it
            return claim if self._files.create(rel, claim) else None
        if seen.claim.is_live(now) and not (abandoned is not None and abandoned(seen.claim)):
            return None
        if not self._files.swap(rel, seen, claim):
            return None
        if on_takeover is not None:
            on_takeover(seen.claim)
        return claim

    def renew(self, claim: Claim) -> Claim:
        """Extend our lease from now; ClaimLostError if the claim is not ours any more."""
        rel = claim_path(claim.campaign_id, claim.run_id)
        seen = self._files.read(rel)
        renewed = dataclasses.replace(claim, expires_at=self.clock() + self.lease_seconds)
        swapped = (
            seen is not None
            and seen.claim.token == claim.token
            and self._files.swap(rel, seen, renewed)
        )
        if not swapped:
            raise ClaimLostError(
                f"the claim of {claim.holder} on campaign {claim.campaign_id!r}"
                f" run {claim.run_id!r} was taken over or removed"
            )
        return renewed

    def release(self, claim: Claim) -> None:
        """Remove the claim if it is still ours; nothing happens if it is gone or not ours."""
        rel = claim_path(claim.campaign_id, claim.run_id)
        seen = self._files.read(rel)
        if seen is not None and seen.claim.token == claim.token:
            self._files.delete(rel, seen)

    def current(self, campaign_id: str, run_id: str) -> Claim | None:
        """Whoever holds the run now, live or expired (see ``Claim.is_live``), else None."""
        seen = self._files.read(claim_path(campaign_id, run_id))
        return None if seen is None else seen.claim

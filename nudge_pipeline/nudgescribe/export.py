"""ExportJob: publish (or resume), poll messages/pages with backoff, report the files.

The job is a small state machine: `begin()` publishes, adopts or reuses an export, then
`poll()` asks `pages` once and says when to ask again. A caller waiting for many exports
at once drives many jobs from one scheduler; `run()` drives one job to its end.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from nudge_pipeline import crashpoints

from . import quirks
from .client import NudgescribeClient
from .errors import ExportFailedError, ExportTimeoutError
from .models import ExportResult, ExportStatus
from .redaction import log

_ACTIVE = frozenset({quirks.EXPORT_STATUS_PROCESSING, "queued", "running", "pending"})


class ExportJob:
    def __init__(
        self,
        client: NudgescribeClient,
        campaign_id: str,
        run_id: str,
        *,
        known_job_id: str | None = None,
        on_job_id: Callable[[str], None] | None = None,
        settle_seconds: float | None = None,
        deadline_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        publish_guard: Callable[
            [], contextlib.AbstractContextManager[object]
        ] = contextlib.nullcontext,
    ) -> None:
        config = client.config
        self.client = client
        self.campaign_id = campaign_id
        self.run_id = run_id
        self.known_job_id = known_job_id
        self.on_job_id = on_job_id
        self.settle_seconds = config.settle_seconds if settle_seconds is None else settle_seconds
        self.deadline_seconds = (
            config.export_deadline_seconds if deadline_seconds is None else deadline_seconds
        )
        self.poll_initial = config.poll_initial
        self.poll_factor = config.poll_factor
        self.poll_max = config.poll_max
        self.clock = clock
        # Entered around the publish call alone (the caller serializes publishes with it).
        self.publish_guard = publish_guard
        self.polls = 0
        self.published = False
        self.job_id: str | None = known_job_id
        self._started = clock()
        self._delay = self.poll_initial
        self._settled_count: int | None = None
        self._settled_since = 0.0

    @property
    def _label(self) -> str:
        return f"campaign {self.campaign_id} run {self.run_id}"

    def _status(self) -> ExportStatus:
        self.polls += 1
        status = self.client.export_status(self.campaign_id, self.run_id)
        if status.status == quirks.EXPORT_STATUS_FAILED:
            raise ExportFailedError(
                f"POST {quirks.EXPORT_PAGES_PATH}",
                200,
                f"export of {self._label} failed on the server (job {status.job_id})",
            )
        return status

    def _announce(self, job_id: str | None) -> None:
        if job_id and self.on_job_id is not None:
            self.on_job_id(job_id)

    def begin(self) -> ExportResult | None:
        """Resume, reuse, adopt or publish. A result when the export is already complete."""
        self._started = self.clock()
        if self.job_id is not None:
            log.info("%s: resuming export job %s", self._label, self.job_id)
            return None
        current = self.client.export_status(self.campaign_id, self.run_id)
        self.polls += 1
        if current.status == quirks.EXPORT_STATUS_COMPLETED:
            log.info("%s: server already has a completed export; reusing it", self._label)
            # Nothing to resume after a crash (`pages` says complete again): no announcement.
            self.job_id = current.job_id
            return ExportResult(current.job_id, current.num_files)
        if (
            current.status in _ACTIVE
            and current.job_id
            or (current.status is None and current.num_files > 0)
        ):
            log.info("%s: an export is already under way; adopting it", self._label)
            self.job_id = current.job_id
        else:
            with self.publish_guard():
                self.job_id = self.client.publish(self.campaign_id, self.run_id)
            self.published = True
            crashpoints.reached(crashpoints.AFTER_PUBLISH)
        self._announce(self.job_id)
        return None

    def next_poll_in(self) -> float:
        """Seconds until the next `pages` call is worth making."""
        if self._settled_count is not None:
            # Status-less server: look again when the settle window closes, or sooner on the
            # usual backoff, so a count still growing restarts the window early.
            closes_in = self._settled_since + self.settle_seconds - self.clock()
            return max(min(closes_in, self._delay), 0.0)
        return self._delay

    def poll(self) -> ExportResult | None:
        """Ask `pages` once: the result when complete, else None (ask after next_poll_in())."""
        if self.clock() > self._started + self.deadline_seconds:
            raise ExportTimeoutError(
                f"POST {quirks.EXPORT_PAGES_PATH}",
                None,
                f"export of {self._label} not complete after {self.deadline_seconds:.0f}s",
            )
        status = self._status()
        crashpoints.reached(crashpoints.POLLING)
        now = self.clock()
        if status.status == quirks.EXPORT_STATUS_COMPLETED:
            return self._done(status)
        if status.status not in _ACTIVE:
            # No (known) status: complete once N > 0 stays unchanged for the window.
            if status.num_files > 0 and status.num_files == self._settled_count:
                if now - self._settled_since >= self.settle_seconds:
                    return self._done(status)
            elif status.num_files > 0:
                self._settled_count, self._settled_since = status.num_files, now
            else:
                self._settled_count = None
        self._delay = min(self._delay * self.poll_factor, self.poll_max)
        return None

    def run(self) -> ExportResult:
        """Drive this one job to completion, sleeping between polls."""
        result = self.begin()
        while result is None:
            wait = self.next_poll_in()
            if self.clock() + wait > self._started + self.deadline_seconds:
                raise ExportTimeoutError(
                    f"POST {quirks.EXPORT_PAGES_PATH}",
                    None,
                    f"export of {self._label} not complete after {self.deadline_seconds:.0f}s",
                )
            time.sleep(wait)
            result = self.poll()
        return result

    def _done(self, status: ExportStatus) -> ExportResult:
        final_id = status.job_id or self.job_id
        if self.job_id and status.job_id and status.job_id != self.job_id:
            log.info("%s: server reports job %s (was %s)", self._label, status.job_id, self.job_id)
        log.info(
            "%s: export complete, %d file(s), %d pages poll(s)",
            self._label,
            status.num_files,
            self.polls,
        )
        return ExportResult(final_id, status.num_files)

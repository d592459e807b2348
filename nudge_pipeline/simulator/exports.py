"""Export jobs: files are rendered once per run on a background thread and then served from disk."""

from __future__ import annotations

import math
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nudge_pipeline.simulator.data import CustomerGroup, Run
from nudge_pipeline.simulator.messages import file_count, render_file


@dataclass
class RunFiles:
    directory: Path
    total: int
    rendered: int = 0
    failed: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    def path(self, file_num: int) -> Path:
        return self.directory / f"part-{file_num:05d}.csv"


@dataclass
class ExportJob:
    job_id: str
    account_id: str
    campaign_id: str
    run_id: str
    started: float
    duration: float
    files: RunFiles
    # Decided at publish: the job runs its course, then reports "failed" and no files.
    fails: bool = False

    def _time_fraction(self) -> float:
        if self.duration <= 0:
            return 1.0
        return min(1.0, (time.monotonic() - self.started) / self.duration)

    def num_files(self) -> int:
        """Grows with the rendering progress and, when a duration is set, with elapsed time."""
        if self.fails:
            return 0
        by_time = math.floor(self.files.total * self._time_fraction())
        return min(self.files.rendered, by_time)

    def status(self) -> str:
        if self.files.failed or (self.fails and self._time_fraction() >= 1.0):
            return "failed"
        if self._time_fraction() >= 1.0 and self.files.rendered >= self.files.total:
            return "completed"
        return "processing"


class ExportManager:
    def __init__(self, root: Path) -> None:
        self._root = root
        self._lock = threading.Lock()
        self._files: dict[str, RunFiles] = {}
        self._latest: dict[tuple[str, str], ExportJob] = {}
        self._jobs: dict[str, ExportJob] = {}

    def publish(
        self,
        account_id: str,
        run: Run,
        group: CustomerGroup,
        *,
        rows_per_file: int,
        recipients: int,
        duration: float,
        job_seed: str,
        fails: Callable[[str], bool],
    ) -> ExportJob:
        """A new job for the run; ``fails(job_id)`` decides whether it will fail."""
        with self._lock:
            files = self._files.get(run.run_id)
            if files is None:
                directory = self._root / "exports" / account_id / run.campaign_id / run.run_id
                files = RunFiles(directory, file_count(run, rows_per_file))
                self._files[run.run_id] = files
                threading.Thread(
                    target=self._render,
                    args=(files, run, group, rows_per_file, recipients),
                    name=f"render-{run.run_id}",
                    daemon=True,
                ).start()
            job_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{job_seed}:{len(self._jobs)}"))
            job = ExportJob(
                job_id,
                account_id,
                run.campaign_id,
                run.run_id,
                time.monotonic(),
                duration,
                files,
                fails(job_id),
            )
            self._jobs[job_id] = job
            self._latest[(run.campaign_id, run.run_id)] = job
            return job

    @staticmethod
    def _render(
        files: RunFiles, run: Run, group: CustomerGroup, rows_per_file: int, recipients: int
    ) -> None:
        try:
            files.directory.mkdir(parents=True, exist_ok=True)
            for file_num in range(files.total):
                render_file(run, group, file_num, rows_per_file, files.path(file_num), recipients)
                files.rendered = file_num + 1
        except OSError:
            files.failed = True
        finally:
            files.done.set()

    def latest(self, campaign_id: str, run_id: str) -> ExportJob | None:
        with self._lock:
            return self._latest.get((campaign_id, run_id))

    def job(self, job_id: str) -> ExportJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def forget_campaign(self, campaign_id: str) -> None:
        with self._lock:
            for key in [k for k in self._latest if k[0] == campaign_id]:
                del self._latest[key]
            directories = {
                j.files.directory for j in self._jobs.values() if j.campaign_id == campaign_id
            }
            self._jobs = {k: j for k, j in self._jobs.items() if j.campaign_id != campaign_id}
            self._files = {k: f for k, f in self._files.items() if f.directory not in directories}
        for directory in directories:
            shutil.rmtree(directory, ignore_errors=True)

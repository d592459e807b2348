"""First in a sync: discover, then land every export's files, before Dagster is loaded.

Export generation is the long pole of a sync, so the exports go out while the rest of the
sync starts up and the snapshots and customers land; each export's files are fetched into
the lake as soon as it is complete, on the core that Dagster's start-up leaves idle. This
runs in a thread of its own and knows nothing of Dagster: it claims each eligible run not
yet loaded, publishes it (or adopts or reuses its export), polls until it is complete,
fetches its files, records them and lets go of the claim. The sync's Dagster run then takes
each run over from its record and loads it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from nudge_pipeline.lake import Lake
from nudge_pipeline.landing.discovery import (
    Discovery,
    account_key,
    discover,
    remember_discovery,
    runs_to_land,
)
from nudge_pipeline.landing.engine import (
    EngineSettings,
    LandingEngine,
    Listener,
    Result,
    Step,
)
from nudge_pipeline.landing.failures import GLOBAL_CAUSES, cause_of, describe
from nudge_pipeline.landing.keys import parse_campaign_run_key
from nudge_pipeline.landing.record import RunRecordStore, RunState
from nudge_pipeline.nudgescribe import ClientConfig, NudgescribeClient
from nudge_pipeline.settings import Settings

# What a progress display learns from here: the files. A run's end is the Dagster run's.
_FILE_EVENTS = ("files_planned", "file_landed")


class EarlyExports:
    def __init__(
        self,
        settings: Settings,
        campaign_ids: Sequence[str],
        started_at: str,
        listener: Listener | None = None,
    ) -> None:
        self.settings = settings
        self.listener = listener
        self.campaign_ids = list(campaign_ids)
        self.started_at = started_at
        self.discovery: Discovery | None = None
        self.discovery_error: BaseException | None = None
        # (cause, subject, message) of failures that rule out every run (a spent quota).
        self.failures: list[tuple[str, str, str]] = []
        self._discovered = threading.Event()
        self._thread = threading.Thread(target=self._run, name="early-exports", daemon=True)

    def start(self) -> EarlyExports:
        self._thread.start()
        return self

    def wait_for_discovery(self) -> Discovery:
        """What discovery found; raises what it raised."""
        self._discovered.wait()
        if self.discovery is None:
            raise self.discovery_error or RuntimeError("discovery ended without an answer")
        return self.discovery

    def join(self) -> None:
        self._thread.join()

    def _run(self) -> None:
        settings = self.settings
        try:
            config = ClientConfig.from_settings(settings)
            with NudgescribeClient(config) as client:
                found = discover(
                    client,
                    settings.publish_stages,
                    self.campaign_ids or None,
                    readers=settings.parallel_downloads,
                )
                self.discovery = found
                self._discovered.set()  # only once `discovery` is set
                if not self.campaign_ids:
                    key = account_key(
                        settings.base_url or "", config.api_code, ",".join(settings.publish_stages)
                    )
                    remember_discovery(key, found)
                self._export(client, found)
        except Exception as exc:
            if not self._discovered.is_set():  # a bad setting or discovery itself
                self.discovery_error = exc
            else:  # the Dagster run lands these runs anyway, and says why
                self.failures.append((cause_of(exc), "exports", describe(exc)))
        finally:
            self._discovered.set()  # nobody waits forever, whatever happened

    def _export(self, client: NudgescribeClient, found: Discovery) -> None:
        lake = Lake(self.settings.lake_root)
        records = RunRecordStore(lake)
        todo = []
        for key in found.eligible_partition_keys:
            record = records.get(*parse_campaign_run_key(key))
            if record is None or record.state is not RunState.LOADED:
                todo.append(key)
        if not todo:
            return
        engine = LandingEngine(
            client, lake, None, EngineSettings.from_settings(self.settings), self._file_event
        )
        steps = frozenset({Step.EXPORT, Step.FILES})
        for outcome in engine.land(runs_to_land(found, todo), steps, self.started_at):
            if outcome.result is Result.FAILED and outcome.cause in GLOBAL_CAUSES:
                self.failures.append((outcome.cause, outcome.run.key, outcome.message))

    def _file_event(self, event: str, data: dict[str, Any]) -> None:
        if self.listener is not None and event in _FILE_EVENTS:
            self.listener(event, data)

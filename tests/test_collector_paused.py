"""`sync` imports Dagster with Python's cyclic collector paused, then freezes what it built."""

import gc
from collections.abc import Iterator

import pytest

from nudge_pipeline.sync import collector_paused


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_is_off_inside_and_back_on_after() -> None:
    gc.enable()
    frozen_before = gc.get_freeze_count()
    with collector_paused():
        assert not gc.isenabled()
        built = [[] for _ in range(1000)]
    assert gc.isenabled()
    # What the block built is frozen: later collections no longer walk it.
    assert gc.get_freeze_count() >= frozen_before + len(built)


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_a_failed_import_still_turns_the_collector_back_on() -> None:
    gc.enable()
    with pytest.raises(ModuleNotFoundError), collector_paused():
        import nudge_pipeline_no_such_module  # type: ignore[import-not-found]  # noqa: F401
    assert gc.isenabled()

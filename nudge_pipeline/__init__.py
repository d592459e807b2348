"""Dagster connector that lands Nudgescribe data as Parquet files and warehouse tables."""

import os

from nudge_pipeline.settings import default_of

# Arrow reads this once, when it first allocates: it has to be set before any data moves.
# malloc hands freed blocks back; pyarrow's default, mimalloc, keeps them per thread, which
# with four files converting at once held 60 MB more at the peak of a 1M-row sync, for no
# measurable gain in speed. A pool named in the environment is kept.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", default_of("arrow_memory_pool"))

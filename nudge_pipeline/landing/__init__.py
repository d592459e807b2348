"""The landing engine: lands each campaign run's export in the lake, one worker per run."""

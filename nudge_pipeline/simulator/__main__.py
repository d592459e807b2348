"""`python -m nudge_pipeline.simulator`: the process the harness and the CLI start."""

from __future__ import annotations

import argparse
from pathlib import Path

from nudge_pipeline.simulator.config import SimConfig
from nudge_pipeline.simulator.server import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m nudge_pipeline.simulator")
    parser.add_argument("--config-file", type=Path, help="SimConfig as JSON")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--storage-port", type=int, default=0)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--ready-file", type=Path)
    args = parser.parse_args()
    config = SimConfig.from_json(args.config_file.read_text()) if args.config_file else SimConfig()
    serve(
        config,
        args.host,
        args.port,
        args.storage_port,
        data_dir=args.data_dir,
        ready_file=args.ready_file,
    )


if __name__ == "__main__":
    main()

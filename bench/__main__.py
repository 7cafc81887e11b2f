"""``python -m bench [--quick] [--only SECTION ...]``: print every benchmark figure with its ratio."""

from __future__ import annotations

import argparse
import logging
import platform
import shutil
import sys
import time

from bench import http_load, inprocess, speed
from bench.report import print_figures

SECTIONS = ("http", "speed", "lifecycle", "scale", "webhooks", "plugin")


def main(argv: list[str] | None = None) -> int:
    """Run the selected sections and print their figures."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs (10 000 workflows for scale, 1 s load rounds)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)
    chosen = args.only or SECTIONS
    print(f"civitai-mock benchmarks — Python {platform.python_version()}, {platform.machine()}, "
          f"load generator: {'wrk' if shutil.which('wrk') else 'python asyncio'}; time {time.strftime('%Y-%m-%d %H:%M')}")
    if "http" in chosen:
        print_figures("HTTP (uvicorn uvloop+httptools, 1 worker, 32 connections)", http_load.run(3 if args.quick else 9))
    if "speed" in chosen:
        print_figures("In-process speed (vs respx, moto; same run)", speed.run(args.quick))
    if "lifecycle" in chosen:
        print_figures("In-process lifecycle", inprocess.lifecycle(50 if args.quick else 200))
    if "scale" in chosen:
        print_figures("Scale", inprocess.scale(10_000 if args.quick else 100_000))
    if "webhooks" in chosen:
        print_figures("Webhooks", inprocess.webhooks(500 if args.quick else 2000))
    if "plugin" in chosen:
        print_figures("Plugin", inprocess.plugin())
    return 0


if __name__ == "__main__":
    sys.exit(main())

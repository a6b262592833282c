"""Command line: ``python -m monitor.simulate OUT [--size N] [--seed S] [--start D] [--end D]``.

``python -m monitor.simulate --registry-only aoi/demo/concessions.geojson`` rewrites the
committed demo registry.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

from monitor.errors import MonitorError
from monitor.simulate.portfolio import PortfolioSpec, generate_portfolio, write_registry


def main(argv: list[str] | None = None) -> int:
    """Run the generator; returns the process exit code."""
    p = argparse.ArgumentParser(prog="python -m monitor.simulate", description=__doc__)
    p.add_argument("out", type=Path, help="output folder, or the registry path with "
                   "--registry-only")
    p.add_argument("--size", type=int, default=320)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start", type=date.fromisoformat, default=date(2021, 6, 1))
    p.add_argument("--end", type=date.fromisoformat, default=date(2022, 12, 1))
    p.add_argument("--revisit-days", type=int, default=5)
    p.add_argument("--no-cloud-truth", action="store_true")
    p.add_argument("--registry-only", action="store_true")
    args = p.parse_args(argv)
    try:
        if args.registry_only:
            write_registry(args.out)
            print(f"wrote {args.out}")
            return 0
        spec = PortfolioSpec(size=args.size, seed=args.seed, start=args.start, end=args.end,
                             revisit_days=args.revisit_days, cloud_truth=not args.no_cloud_truth)
        t0 = time.perf_counter()

        def progress(done: int, total: int) -> None:
            print(f"\r{done}/{total} scenes", end="", file=sys.stderr, flush=True)

        pf = generate_portfolio(args.out, spec, progress=progress)
        print(f"\n{len(pf.scene_ids)} scenes in {time.perf_counter() - t0:.1f} s -> {pf.root}",
              file=sys.stderr)
    except MonitorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

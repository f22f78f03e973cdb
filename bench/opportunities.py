"""Benchmark of the sales funnel page's queries over the demo data.

    .venv/bin/python -m bench.opportunities [--size 2000] [--repeat 5] [--postgresql URL]

Seeds a dev org with the demo (`size` people, their hot leads and opportunities), mirrors it with one
sync cycle of the default objects, then times `reports.opportunities.funnel` + `influence` (what one
page view computes) over the default range. Prints one JSON line: funnel_ms_sqlite / funnel_ms
(PostgreSQL; null when unreachable), the median of `repeat` runs. Target: well under 1 s at the demo size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import fresh_postgres

PG_DEFAULT = "postgresql://postgres@127.0.0.1/tsunagi_bench_opportunities"


def _time_funnel(database_url: str, org: Any, folder: Path, repeat: int) -> float:
    import db
    from app import create_app
    from migrations import upgrade
    from reports import opportunities
    from reports.opportunities import default_from
    from reports.service import parse_range
    from sync.cycle import run_cycle

    upgrade(database_url)
    app = create_app({"TESTING": True, "instance_path": str(folder / "instance"),
                      "environ": {"SECRET_KEY": "bench", "PUBLIC_BASE_URL": "http://localhost"},
                      "settings": {"database_url": database_url, **org.app_settings()}})
    try:
        if run_cycle(app).outcome != "ok":
            raise RuntimeError("the sync cycle did not finish")
        zone = app.config["TSUNAGI"].timezone
        from datetime import datetime
        from zoneinfo import ZoneInfo

        rng = parse_range({"from": default_from(datetime.now(ZoneInfo(zone)).date()).isoformat()}, zone)
        runs = []
        with app.app_context(), db.get_db(app).sessionmaker() as session:
            for _ in range(repeat):
                started = time.perf_counter()
                opportunities.funnel(session, rng)
                opportunities.influence(session, rng)
                runs.append((time.perf_counter() - started) * 1000)
        return round(statistics.median(runs), 1)
    finally:
        db.get_db(app).dispose()


def main() -> None:
    """Run the benchmark and print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgresql", default=PG_DEFAULT)
    args = parser.parse_args()
    from devorg.org import DevOrg
    from devorg.seed import seed

    result: dict[str, Any] = {"size": args.size}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        org = DevOrg(folder / "org")
        org.start()
        try:
            counts = seed(org, args.size)
            result["opportunities"] = counts.get("Opportunity", 0)
            result["funnel_ms_sqlite"] = _time_funnel(f"sqlite:///{folder}/bench.db", org, folder, args.repeat)
            url = fresh_postgres(args.postgresql, "opportunities")
            result["funnel_ms"] = _time_funnel(url, org, folder, args.repeat) if url else None
        finally:
            org.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()

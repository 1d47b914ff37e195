"""`ticker serve --workers 2`, started again and again, with streams opened the moment
`/healthz` answers: how many are refused (the suite runs fewer).

    python benchmarks/startup_streams.py [STARTS]   # 40 by default, ~2 minutes
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import RedisServer, cli
from tests.test_chaos_startup import run_starts, summary


def main() -> int:
    starts = int(sys.argv[1]) if sys.argv[1:] else 40
    server = RedisServer().start()
    try:
        cli(server.url, "channel", "add", "main")
        runs = asyncio.run(run_starts(server.url, starts))
    finally:
        server.kill()
        shutil.rmtree(server.dir, ignore_errors=True)
    print(summary(runs))
    return 0 if all(s == 200 for run in runs for s in run.statuses) else 1


if __name__ == "__main__":
    sys.exit(main())

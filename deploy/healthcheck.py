"""The container's HEALTHCHECK: exit 0 when `GET /healthz` answers 200.

Standard library only (the slim image has no curl). Liveness, not readiness: a process
whose Redis is away is alive and keeps its streams open (see deploy/README.md).
"""

import os
import sys
import urllib.request

port = os.environ.get("TICKER_PORT", "8000")
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as exc:  # any failure is "unhealthy"; say why in `docker inspect`
    print(f"healthz failed: {exc}", file=sys.stderr)
    sys.exit(1)

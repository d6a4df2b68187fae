"""Container healthcheck: exit 0 when the service answers ``/health/ready`` with 200, else 1.

Readiness, not liveness: the service answers 503 until every model is loaded and warmed (and,
with ``MMS_REQUIRE_GPU``, while CUDA is not in use), so Docker reports the replica ``healthy``
only when it can serve, and compose's ``depends_on: condition: service_healthy`` means "ready".
Standard library only: the runtime images carry no curl or wget. The health endpoints need no
API key (the service exempts them).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping

DEFAULT_PORT = 8000
READY_PATH = "/health/ready"


def ready_url(env: Mapping[str, str]) -> str:
    """The readiness URL of the server in this container (port from ``MMS_PORT``)."""
    port = env.get("MMS_PORT", "").strip() or str(DEFAULT_PORT)
    return f"http://127.0.0.1:{port}{READY_PATH}"


def probe(url: str, timeout_s: float) -> tuple[bool, str]:
    """GET ``url``; (ready, one line saying why) — the line lands in ``docker inspect``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status == 200, f"{url}: HTTP {response.status}"
    except urllib.error.HTTPError as exc:  # 503 while loading: an answer, not a crash
        return False, f"{url}: HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return False, f"{url}: {getattr(exc, 'reason', exc)}"


def main() -> int:
    """Probe once; the timeout stays under the HEALTHCHECK's own (5 s)."""
    ready, line = probe(ready_url(os.environ), timeout_s=4.0)
    print(line)
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main())

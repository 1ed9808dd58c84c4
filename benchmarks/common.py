"""What several benchmark suites share: the input cache and moto (percentiles are
in tests.support.percentiles, shared with the load test)."""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

from tests.support.moto import MotoServer

ROOT = Path(__file__).resolve().parents[1]
# Generated inputs (tests.support.images), made once per machine.
INPUT_CACHE = ROOT / "var" / "bench-inputs"


def start_moto(stack: ExitStack, root: Path) -> dict[str, str]:
    """moto's S3 server in a process of its own (in this one it would share the
    client's GIL); the environment that points imgsvc at its bucket."""
    credentials = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    os.environ.update(credentials)
    server = MotoServer("bench", log=root / "moto.log").start()
    stack.callback(server.stop)
    return {
        "IMGSVC_STORAGE_URL": "s3://bench/service",
        "IMGSVC_S3_ENDPOINT_URL": server.endpoint,
        **credentials,
    }

"""The web process's upload buffers reuse memory instead of faulting in fresh pages."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

# An upload's buffers, as a request makes them: socket reads into a growing
# buffer, the body joined from pieces, the file part sliced out. Prints the
# minor page faults of the last of five uploads, in a fresh process (malloc's
# settings are per process). ``setup`` runs first.
_UPLOADS = textwrap.dedent(
    """
    import io, resource
    {setup}
    MiB = 1024 * 1024

    def upload():
        buf = io.BytesIO()
        for _ in range(4):
            buf.write(b"\\1" * MiB)
        body = b"".join(buf.getvalue()[i * MiB : (i + 1) * MiB] for i in range(4))
        return len(body[100:-100])

    for _ in range(4):
        upload()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    upload()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)
PAGES_PER_4MB = 4 * 1024 * 1024 // 4096


def faults_of_an_upload(setup: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _UPLOADS.format(setup=setup)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "IMGSVC_SECRET_KEY": "test-secret"},
    )
    return int(done.stdout.strip().splitlines()[-1])


def test_by_default_every_upload_faults_in_fresh_memory() -> None:
    assert faults_of_an_upload("") >= PAGES_PER_4MB  # every copy of the body faults afresh


def test_retained_memory_serves_the_next_upload_without_faults() -> None:
    setup = (
        "from imgsvc.web.body.memory import retain_freed_memory\n"
        "assert retain_freed_memory(20 << 20)"
    )
    assert faults_of_an_upload(setup) < 20


def test_the_server_entry_point_retains_memory() -> None:
    assert faults_of_an_upload("import imgsvc.wsgi") < 20

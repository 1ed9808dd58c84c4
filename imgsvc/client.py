"""``imgsvc upload``: the command-line client, a thin client over the public HTTP API.

Contract. :func:`run` uploads every file given, and every image file found in
the folders given (recursively, by suffix), to ``POST /api/images`` with at
most ``parallel`` uploads at a time; then (unless ``wait`` is false) polls
``GET /api/images/<id>`` until each image is ``done`` or ``failed`` or the
``timeout`` passes; then prints one block per file (status, id, path, the
variant URLs) and, if asked, writes them as JSON. It returns the exit code: 0
when every image was accepted (and, when waiting, ended ``done``), else 1.

Safe to run again. Each upload carries an ``Idempotency-Key`` derived from the
file's absolute path and content (and this user's local secret, see
:func:`local_secret`), so a rerun after a crash (or of a whole
folder) gets the first answers back for the files already sent (within the
server's ``IMGSVC_IDEMPOTENCY_TTL``) and the server stores nothing twice; a
changed file is a new image.

Failures. ``429`` and ``503`` answers (and ``409 idempotency_key_in_use``) are
retried after their ``Retry-After`` (see :mod:`imgsvc.apiclient`),
and a lost connection after a short backoff, ``retries`` times per request; a
request that still fails ends that file with the error's code. Other 4xx
answers (an invalid image, a wrong key) are not retried. Only the standard
library is used (urllib), so the client runs wherever imgsvc is installed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

from imgsvc.apiclient import Api, CountingBody
from imgsvc.progress import Progress

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff"})
POLL_INTERVAL = 0.5
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")  # a filename in a header: no quote, no CR/LF


class ClientError(Exception):
    """A path that cannot be uploaded (missing, not a file or folder)."""


@dataclass
class Options:
    """What ``imgsvc upload`` was asked to do."""

    url: str
    key: str | None = None
    wait: bool = True
    timeout: float = 600.0  # seconds to wait for every image to finish
    parallel: int = 4
    retries: int = 8  # per request: 429/503/409 answers and lost connections
    request_timeout: float = 60.0


@dataclass
class Result:
    """One file's outcome, as printed and written with ``--json``."""

    path: str
    id: str | None = None
    status: str = "pending"  # queued, processing, done, failed, or "error" (never accepted)
    error: dict[str, str] | None = None
    page: str | None = None
    variants: dict[str, str] = field(default_factory=dict)


def collect(paths: list[str]) -> list[Path]:
    """The files to upload: each file given, and the image files under each folder.

    Raises ``ClientError`` for a path that does not exist.
    """
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(
                sorted(
                    p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                )
            )
        else:
            raise ClientError(f"{name}: no such file or folder")
    unique = {path.resolve(): path for path in found}
    return list(unique.values())


def local_secret(folder: Path | None = None) -> bytes:
    """This user's secret for idempotency keys, made on first use (``0600``).

    Kept in ``$XDG_CONFIG_HOME/imgsvc/upload-secret`` (``~/.config`` by
    default): a key is then not guessable by someone who has the same file,
    who could otherwise replay it and read the upload's delete token.
    """
    base = folder or Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    path = base / "imgsvc" / "upload-secret"
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        return bytes.fromhex(path.read_text().strip())


def idempotency_key(path: Path, data: bytes, secret: bytes) -> str:
    """The upload's key: an HMAC (with this user's ``secret``) of the file's
    absolute path and its content."""
    content = hashlib.sha256(data).hexdigest()
    message = f"{path.resolve()}\0{content}".encode()
    return "imgsvc-cli-" + hmac.new(secret, message, hashlib.sha256).hexdigest()


def _upload(api: Api, path: Path, progress: Progress, secret: bytes) -> Result:
    result = Result(str(path))
    data = path.read_bytes()
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{_SAFE_NAME.sub("_", path.name)}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    parts = [head, data, f"\r\n--{boundary}--\r\n".encode()]
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(sum(len(part) for part in parts)),
        "Idempotency-Key": idempotency_key(path, data, secret),
        "Accept": "application/json",
    }
    sent = [0]

    def count(size: int) -> None:
        sent[0] += size
        progress.sent(size)

    def rewind() -> None:
        progress.sent(-sent[0])
        sent[0] = 0

    try:
        answer = api.call(
            "POST", "/api/images", headers, lambda: CountingBody(parts, count), rewind
        )
    except OSError as exc:
        result.status, result.error = "error", {"code": "connection_failed", "message": str(exc)}
        return result
    if answer.status == 202 or (answer.status == 503 and answer.body.get("id")):
        result.id, result.status = answer.body["id"], answer.body.get("status", "queued")
        result.page = f"{api.base}/images/{result.id}"
    else:
        error = answer.body.get("error") or {}
        result.status = "error"
        result.error = {
            "code": str(error.get("code", answer.status)),
            "message": str(error.get("message", "")),
        }
    return result


def _refresh(api: Api, result: Result) -> None:
    try:
        answer = api.call("GET", f"/api/images/{result.id}")
    except OSError:
        return  # try again at the next round
    if answer.status != 200:
        return
    result.status = answer.body.get("status", result.status)
    result.error = answer.body.get("error")
    result.variants = {
        name: api.base + variant["url"]
        for name, variant in (answer.body.get("variants") or {}).items()
    }


def wait(api: Api, results: list[Result], timeout: float, progress: Progress) -> None:
    """Poll each accepted image until it is ``done`` or ``failed``, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    pending = [r for r in results if r.id and r.status not in ("done", "failed")]
    while pending:
        for result in pending:
            _refresh(api, result)
            if result.status in ("done", "failed"):
                progress.finished(result.path, result.status)
        pending = [r for r in pending if r.status not in ("done", "failed")]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(POLL_INTERVAL)  # between polling rounds: the server works meanwhile
    for result in pending:
        result.status, result.error = "timeout", {"code": "timeout", "message": "not finished"}
    for result in results:  # done before the wait started: its variants still to read
        if result.id and result.status == "done" and not result.variants:
            _refresh(api, result)


def report(results: list[Result], out: IO[str]) -> None:
    """One block per file: status, id and path, then each variant's URL."""
    for result in results:
        out.write(f"{result.status:<10} {result.id or '-':<22}  {result.path}\n")
        if result.error:
            out.write(f"    error: {result.error.get('code')}: {result.error.get('message')}\n")
        for name, url in result.variants.items():
            out.write(f"    {name}: {url}\n")


def run(
    paths: list[str],
    options: Options,
    json_path: str | None = None,
    out: IO[str] = sys.stdout,
    err: IO[str] = sys.stderr,
) -> int:
    """Upload ``paths``, wait (unless told not to), report; the exit code.

    Raises ``ClientError`` for a path that does not exist (nothing is sent).
    """
    files = collect(paths)
    progress = Progress(len(files), sum(p.stat().st_size for p in files), err)
    lock = threading.Lock()

    def log(line: str) -> None:
        with lock:
            progress.message(line)

    api = Api(options.url, options.key, options.retries, options.request_timeout, log)
    secret = local_secret()

    def one(path: Path) -> Result:
        result = _upload(api, path, progress, secret)
        progress.uploaded(result.path, result.status)
        return result

    with ThreadPoolExecutor(max_workers=max(1, options.parallel)) as pool:
        results = list(pool.map(one, files))
    if options.wait:
        wait(api, results, options.timeout, progress)
    progress.close()
    report(results, out)
    if json_path:
        Path(json_path).write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    wanted = {"done"} if options.wait else {"queued", "processing", "done"}
    return 0 if all(result.status in wanted for result in results) else 1

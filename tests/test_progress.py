"""The upload client's progress: a bar redrawn in place on a terminal, lines elsewhere."""

from __future__ import annotations

import io

from imgsvc.progress import MiB, Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_one_line_is_redrawn_with_bytes_and_images():
    out = Terminal()
    progress = Progress(files=2, total_bytes=4 * MiB, out=out)
    progress.sent(2 * MiB)
    progress.uploaded("a.jpg", "queued")
    progress.message("POST /api/images: 429 rate_limited; retrying in 1.0 s")
    progress.finished("a.jpg", "done")
    progress.close()

    text = out.getvalue()
    assert "\n" not in text.split("retrying in 1.0 s\n", 1)[1].rstrip(
        "\n"
    )  # redrawn, not new lines
    final = text.rstrip("\n").rsplit("\r\033[K", 1)[1]
    assert final == ("[############............] 2.0/4.0 MiB  sent 1/2  finished 1  failed 0")


def test_elsewhere_every_event_is_a_plain_line():
    out = io.StringIO()
    progress = Progress(files=2, total_bytes=10, out=out)
    progress.sent(10)
    progress.uploaded("a.jpg", "queued")
    progress.uploaded("b.jpg", "error")
    progress.finished("a.jpg", "failed")
    progress.close()

    assert out.getvalue().splitlines() == [
        "sent 1/2: queued a.jpg",
        "sent 2/2: error b.jpg",
        "failed 1/2: a.jpg",
    ]
    assert "\r" not in out.getvalue()
    assert progress.failed_count == 2


def test_a_retried_attempt_takes_its_bytes_back():
    progress = Progress(files=1, total_bytes=100, out=io.StringIO())
    progress.sent(60)
    progress.sent(-60)
    progress.sent(100)
    assert progress.bytes_sent == 100

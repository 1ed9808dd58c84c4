"""Named errors (imgsvc/errors.py): optional attributes declared on the class."""

from __future__ import annotations

from imgsvc.errors import Unauthorized


def test_unauthorized_declares_its_challenge() -> None:
    error = Unauthorized()
    assert error.status == 401 and error.headers is not None
    assert error.headers["WWW-Authenticate"].startswith("Basic ")

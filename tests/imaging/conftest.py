"""Fixtures of the imaging tests."""

from __future__ import annotations

import pytest

from imgsvc.imaging import decode


@pytest.fixture(params=["simplejpeg", "pillow"])
def jpeg_decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with each JPEG decoder: simplejpeg (M/8 scaling) and Pillow's fallback."""
    if request.param == "pillow":
        monkeypatch.setattr(decode, "simplejpeg", None)
    else:
        assert decode.simplejpeg is not None, "simplejpeg is a dependency: pip install -e ."
    return request.param

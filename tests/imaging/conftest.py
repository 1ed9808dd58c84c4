"""Fixtures of the imaging tests."""

from __future__ import annotations

import pytest

from imgsvc.imaging import decode, jpegplanes, planes


@pytest.fixture(params=["turbojpeg-planes", "simplejpeg", "pillow"])
def jpeg_decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with each JPEG decoder: TurboJPEG's stored planes (for 4:2:0
    photos; taken here at any size, not only for large outputs from 3 MP),
    simplejpeg (M/8 scaling) and Pillow's fallback."""
    if request.param == "turbojpeg-planes":
        assert jpegplanes._decoder() is not None, "needs PyTurboJPEG and libturbojpeg0"
        monkeypatch.setattr(planes, "PLANES_MIN_PIXELS", 0)
        monkeypatch.setattr(planes, "PLANES_MIN_WIDTH", 0)
        return request.param
    monkeypatch.setattr(jpegplanes, "turbojpeg", None)
    if request.param == "pillow":
        monkeypatch.setattr(decode, "simplejpeg", None)
    else:
        assert decode.simplejpeg is not None, "simplejpeg is a dependency: pip install -e ."
    return request.param

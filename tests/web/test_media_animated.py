"""IMGSVC_ANIMATED=true over HTTP: an animated GIF's width variants are served animated."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.imaging.test_animation import DURATIONS, animation

pytestmark = pytest.mark.parametrize("storage_url", ["file"], indirect=True)


@pytest.fixture
def env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The usual settings with animated output on (also for the worker subprocess)."""
    monkeypatch.setenv("IMGSVC_ANIMATED", "true")
    return {**env, "IMGSVC_ANIMATED": "true"}


def test_animated_gif_is_served_as_animated_webp_with_a_still_thumbnail(client, processed):
    image_id = processed(animation("GIF"), "ball.gif")["id"]
    view = client.get(f"/api/images/{image_id}").get_json()
    assert view["status"] == "done"
    assert view["animation"] == {"kept": True, "frames": len(DURATIONS)}
    assert view["variants"]["xs"]["format"] == "WEBP"

    response = client.get(f"/images/{image_id}/xs")
    assert response.headers["Content-Type"] == "image/webp"
    image = Image.open(io.BytesIO(response.data))
    assert (image.n_frames, image.size) == (len(DURATIONS), (300, 200))
    thumb = Image.open(io.BytesIO(client.get(f"/images/{image_id}/thumb").data))
    assert getattr(thumb, "n_frames", 1) == 1

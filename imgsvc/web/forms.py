"""Forms (flask-wtf: every form carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired


class UploadForm(FlaskForm):
    """The upload form on ``/``. The file's type is checked by content, not here."""

    file = FileField("Image", validators=[FileRequired("Choose an image to upload.")])

"""Forms (flask-wtf: every form carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import StringField, URLField
from wtforms.validators import DataRequired, Length, Optional


class UploadForm(FlaskForm):
    """The upload form on ``/``. The file's type is checked by content, not here."""

    file = FileField("Image", validators=[FileRequired("Choose an image to upload.")])
    focus = StringField("Focal point", validators=[Optional(), Length(max=64)])


class WordCountForm(FlaskForm):
    """The word counter's form on ``/add-task``. The URL is checked by the SSRF guard."""

    url = URLField("Page URL", validators=[DataRequired("Enter a URL."), Length(max=2048)])

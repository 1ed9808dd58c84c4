"""Forms (flask-wtf: every form carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, StringField, URLField
from wtforms.validators import DataRequired, Length, Optional


class UploadForm(FlaskForm):
    """The upload form on ``/``. The file's type is checked by content, not here."""

    file = FileField("Image", validators=[FileRequired("Choose an image to upload.")])
    focus = StringField("Focal point", validators=[Optional(), Length(max=64)])


class UrlUploadForm(FlaskForm):
    """The upload form's URL field on ``/``: the job fetches the image (SSRF guard,
    the upload's byte limit, image types only)."""

    url = URLField("Image URL", validators=[DataRequired("Enter a URL."), Length(max=2048)])


class WordCountForm(FlaskForm):
    """The word counter's form on ``/add-task``. The URL is checked by the SSRF guard."""

    url = URLField("Page URL", validators=[DataRequired("Enter a URL."), Length(max=2048)])


class RetryFailedForm(FlaskForm):
    """``/ops``'s "retry" button of one error code (behind the operator's auth)."""

    code = HiddenField("Error code", validators=[DataRequired(), Length(max=64)])

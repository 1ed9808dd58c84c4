"""Imaging: header probe, variant specs and the Pillow pipeline."""

from imgsvc.imaging.encode import (
    EncodedFile,
    EncodeOptions,
    RenderedVariant,
    file_extension,
    parse_extra_formats,
)
from imgsvc.imaging.pipeline import Rendering, render_extras, render_image, render_variants
from imgsvc.imaging.placeholder import Placeholder
from imgsvc.imaging.probe import MIME_TYPES, ProbeResult, probe
from imgsvc.imaging.variants import VariantSpec, parse_variants

__all__ = [
    "MIME_TYPES",
    "EncodeOptions",
    "EncodedFile",
    "Placeholder",
    "ProbeResult",
    "RenderedVariant",
    "Rendering",
    "VariantSpec",
    "file_extension",
    "parse_extra_formats",
    "parse_variants",
    "probe",
    "render_extras",
    "render_image",
    "render_variants",
]

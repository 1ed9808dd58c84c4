"""Imaging: header probe, variant specs and the Pillow pipeline."""

from imgsvc.imaging.pipeline import EncodeOptions, RenderedVariant, render_variants
from imgsvc.imaging.probe import MIME_TYPES, ProbeResult, probe
from imgsvc.imaging.variants import VariantSpec, parse_variants

__all__ = [
    "MIME_TYPES",
    "EncodeOptions",
    "ProbeResult",
    "RenderedVariant",
    "VariantSpec",
    "parse_variants",
    "probe",
    "render_variants",
]

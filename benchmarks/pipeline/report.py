"""Plain-text tables of the benchmark's figures."""

from __future__ import annotations

_HEADER = (
    f"{'strategy':22} {'CPU ms':>8} {'(min)':>7} {'wall ms':>8} {'speed-up':>9} "
    f"{'paired':>7} {'(range)':>11} {'(wall)':>7} "
    f"{'x libvips':>9} {'peak RSS':>9} {'job RSS':>8} {'min SSIM':>9} {'CbCr SSIM':>9} "
    f"{'CbCr MAD':>8}"
)


def _fmt(value: float | None, spec: str, width: int) -> str:
    return f"{value:{width}{spec}}" if value is not None else f"{'-':>{width}}"


def _times(value: float | None) -> str:
    return f"{value:8.2f}x" if value is not None else f"{'-':>9}"


def _paired(row: dict) -> str:
    low, high = row["speedup_cpu_paired_range"]
    return f"{row['speedup_cpu_paired']:6.2f}x {f'({low:.2f}-{high:.2f})':>11}"


def input_table(name: str, entry: dict) -> str:
    """One input: a row per strategy, SSIM per output, and output bytes."""
    lines = [
        f"\n== {name}: {entry['width']}x{entry['height']} {entry['format']}, "
        f"{entry['bytes'] / 1e6:.2f} MB",
        "   medians of the timed rounds (and the fastest CPU);",
        "   speed-up = naive CPU / CPU, of the medians (wall: naive wall / wall); paired =",
        "   median over rounds of naive CPU / CPU in the same round (range: lowest-highest);",
        "   x libvips = CPU / libvips CPU;",
        "   RSS in MB (job RSS = peak - the worker's RSS before its first job);",
        "   SSIM of the pixels before encoding, against naive's (luma); CbCr: colour as",
        "   4:2:0 keeps it, lowest chroma SSIM and largest mean |difference| (of 255)",
        _HEADER,
    ]
    for strategy, row in entry["strategies"].items():
        lines.append(
            f"{strategy:22} {row['cpu_ms']:8.1f} {row['cpu_ms_min']:7.1f} {row['wall_ms']:8.1f} "
            f"{row['speedup_cpu']:8.2f}x {_paired(row)} {row['speedup_wall']:6.2f}x "
            f"{_times(row['vs_libvips_cpu'])} "
            f"{row['peak_rss_mb']:9.1f} "
            f"{row['peak_rss_mb'] - row['baseline_rss_mb']:8.1f} "
            f"{_fmt(row.get('ssim_min'), '.4f', 9)} "
            f"{_fmt(row.get('chroma_ssim_min'), '.4f', 9)} "
            f"{_fmt(row.get('chroma_mad_max'), '.2f', 8)}"
        )
    lines.append("   SSIM per output:")
    scored = {s: r["ssim"] for s, r in entry["strategies"].items() if "ssim" in r}
    scored.update(entry["ssim_notes"])
    for strategy, scores in scored.items():
        cells = " ".join(f"{output} {value:.4f}" for output, value in scores.items())
        lines.append(f"   {strategy:26} {cells}")
    lines.append("   chroma SSIM / mean |Cb, Cr difference| per output:")
    colour = {s: r for s, r in entry["strategies"].items() if "chroma_ssim" in r}
    colour.update(entry.get("chroma_notes", {}))
    for strategy, row in colour.items():
        cells = " ".join(
            f"{output} {value:.4f}/{row['chroma_mad'][output]:.2f}"
            for output, value in row["chroma_ssim"].items()
        )
        lines.append(f"   {strategy:26} {cells}")
    lines.append("   bytes of the six outputs:")
    for strategy, row in entry["strategies"].items():
        cells = ", ".join(f"{ext} {size / 1024:,.0f} KiB" for ext, size in row["bytes"].items())
        lines.append(f"   {strategy:26} {cells}")
    return "\n".join(lines)


def memory_table(figures: dict) -> str:
    """Peak RSS of one job on the 50 MP JPEG."""
    lines = [
        f"\n== jpeg-50mp: {figures['width']}x{figures['height']} JPEG, "
        f"{figures['bytes'] / 1e6:.1f} MB: one job",
        f"{'strategy':22} {'CPU ms':>8} {'peak RSS MB':>12} {'job RSS MB':>11}",
    ]
    for strategy, row in figures.items():
        if isinstance(row, dict):
            lines.append(
                f"{strategy:22} {row['cpu_ms']:8.1f} {row['peak_rss_mb']:12.1f} "
                f"{row['peak_rss_mb'] - row['baseline_rss_mb']:11.1f}"
            )
    return "\n".join(lines)


def encoder_table(figures: dict) -> str:
    """CPU and bytes per encoder setting, for the six outputs of an input."""
    lines = ["\n== encoder settings: the six outputs of imgsvc, encoded once"]
    for name, rows in figures.items():
        lines.append(f"   {name}")
        for row in rows:
            lines.append(
                f"   {row['setting']:24} {row['cpu_ms']:8.1f} ms {row['bytes'] / 1024:9,.0f} KiB"
            )
    return "\n".join(lines)


def extras_table(costs: dict, equal: dict) -> str:
    """The extra formats' CPU against the job's, and their bytes at the JPEG's SSIM."""
    lines = ["\n== extra formats (webp,avif): CPU beyond the job, goal <= 2x the job"]
    for name, row in costs.items():
        lines.append(
            f"   {name:16} job {row['base_ms']:7.1f} ms, extras {row['extras_ms']:7.1f} ms "
            f"= {row['ratio']:.2f}x"
        )
    if equal:
        jpeg = equal["jpeg"]
        lines.append(
            f"   bytes at the JPEG's SSIM ({equal['input']}, JPEG q85: SSIM {jpeg['ssim']:.4f}, "
            f"{jpeg['bytes'] / 1024:,.0f} KiB)"
        )
        for label in ("WebP", "AVIF"):
            if label not in equal:
                continue
            at = equal[label]["bytes_at_jpeg_ssim"]
            saved = f"{1 - at / jpeg['bytes']:+.0%} saved" if at else "off the ladder"
            size = f"{at / 1024:,.0f} KiB" if at else "-"
            lines.append(f"   {label:5} {equal[label]['settings']}: {size} ({saved})")
    return "\n".join(lines)


def smartcrop_table(figures: dict) -> str:
    """CPU ms of the automatic crop's choice per input."""
    lines = ["\n== smart crop (IMGSVC_CROP=smart): CPU ms added to the job"]
    lines += [f"   {name:16} {ms:6.2f} ms" for name, ms in figures.items()]
    return "\n".join(lines)

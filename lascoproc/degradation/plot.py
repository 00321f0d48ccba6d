"""Plots of a degradation series: one figure per channel, and an overview of all channels.

Matplotlib's object API (``matplotlib.figure.Figure``), no pyplot state: safe in threads and
on machines without a display.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

__all__ = ["plot_channel", "plot_overview", "write_plots"]


def _draw(ax, series: xr.Dataset, channel: int, *, legend: bool) -> None:
    one = series.sel(channel=channel)
    time = one["time"].values
    est = one["degradation"].values
    sigma = (one["degradation_uncertainty"].values if "degradation_uncertainty" in one
             else one["degradation_spread"].values)
    what = "uncertainty" if "degradation_uncertainty" in one else "spread of the frames"
    ax.fill_between(time, est - 2 * sigma, est + 2 * sigma, color="tab:blue", alpha=0.12,
                    lw=0, label=f"+- 2 x {what}")
    ax.fill_between(time, est - sigma, est + sigma, color="tab:blue", alpha=0.3, lw=0,
                    label=f"+- {what}")
    aggregate = series.attrs.get("aggregate", "median")
    ax.plot(time, est, "o-", ms=3, color="tab:blue", label=f"estimate ({aggregate} per bin)")
    if "degradation_v10" in one:
        normalised = " / first bin" if series.attrs.get("reference_normalised") else ""
        ax.plot(time, one["degradation_v10"].values, "-", color="k", lw=1.2,
                label=f"aiapy V10 table{normalised}")
    if "degradation_injected" in one:
        ax.plot(time, one["degradation_injected"].values, "--", color="tab:red", lw=1.2,
                label="injected (synthetic)")
    ax.set_title(f"AIA {channel} \u00c5")
    ax.set_ylabel("degradation factor")
    shown = [est + 2 * sigma] + [one[v].values for v in ("degradation_v10",
                                                         "degradation_injected") if v in one]
    upper = np.concatenate(shown)
    upper = upper[np.isfinite(upper)]
    ax.set_ylim(0.0, max(1.05, 1.05 * float(upper.max())) if upper.size else 1.05)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=7, loc="lower left")


def plot_channel(series: xr.Dataset, channel: int) -> Figure:
    """One channel's estimate +- its uncertainty, against the V10 factor (and the truth if
    given)."""
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    _draw(fig.add_subplot(), series, int(channel), legend=True)
    return fig


def plot_overview(series: xr.Dataset) -> Figure:
    """All channels, one panel each."""
    channels = [int(c) for c in series["channel"].values]
    ncols = 2 if len(channels) > 1 else 1
    nrows = int(np.ceil(len(channels) / ncols))
    fig = Figure(figsize=(6 * ncols, 2.6 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True)
    for i, channel in enumerate(channels):
        _draw(axes.flat[i], series, channel, legend=i == 0)
    for ax in axes.flat[len(channels):]:
        ax.set_visible(False)
    return fig


def write_plots(series: xr.Dataset, stem, *, dpi: int = 100) -> list[str]:
    """``STEM_<wavelength>.png`` per channel and ``STEM.png`` (overview); returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for channel in series["channel"].values:
        path = stem.with_name(f"{stem.name}_{int(channel)}.png")
        plot_channel(series, int(channel)).savefig(path, dpi=dpi)
        paths.append(str(path))
    overview = stem.with_name(f"{stem.name}.png")
    plot_overview(series).savefig(overview, dpi=dpi)
    paths.append(str(overview))
    return paths

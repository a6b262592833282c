"""Imagery sources behind one Protocol, and the cube they all produce."""

from __future__ import annotations

from pathlib import Path

from monitor.errors import SourceError
from monitor.sources.base import ImagerySource, Scene, SearchResult, SkippedScene
from monitor.sources.local import LocalSource

__all__ = ["ImagerySource", "LocalSource", "Scene", "SearchResult", "SkippedScene", "open_source"]


def open_source(spec: str | Path | ImagerySource) -> ImagerySource:
    """Open an imagery source from a spec string.

    Parameters
    ----------
    spec
        ``local:PATH`` (or a plain path) for local folders and static STAC catalogs,
        ``sentinelhub`` / ``sentinelhub:cdse`` / ``sentinelhub:URL`` for Sentinel Hub
        Process API deployments, ``stac:URL`` for STAC APIs (Earth Search, Planetary
        Computer), or an object already implementing :class:`ImagerySource`.

    Raises
    ------
    SourceError
        For an unknown scheme or a path without scenes.
    """
    if isinstance(spec, ImagerySource):
        return spec
    text = str(spec)
    scheme, sep, rest = text.partition(":")
    if sep and scheme == "local":
        return LocalSource(rest)
    if scheme == "sentinelhub":
        from monitor.sources.sentinelhub import SentinelHubSource

        return SentinelHubSource.from_spec(text)
    if sep and scheme == "stac":
        from monitor.sources.stac import StacApiSource

        return StacApiSource.from_spec(rest)
    if sep and len(scheme) > 1 and scheme.isalpha():
        raise SourceError(f"unknown imagery source scheme {scheme!r} in {text!r}; use "
                          "local:PATH, sentinelhub[:cdse|:URL] or stac:URL")
    return LocalSource(text)

"""The Sentinel Hub source: the real sentinelhub-py client against a fake Sentinel Hub.

The fake (tests/fakes/sentinelhub.py) serves the session's small synthetic portfolio
(Dec 2021 - Sep 2022, searched Jan-Sep: baselines 03.01 and 04.00, a duplicate delivery,
a partial scene) on 127.0.0.1. Every test starts its own fake and cache; retries use short
sleeps through ``MONITOR_SH_*`` variables.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import pickle
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner
from odc.geo.geobox import GeoBox
from sentinelhub.download.sentinelhub_client import SentinelHubDownloadClient

import monitor
from monitor.checking import CheckResult
from monitor.cli import main
from monitor.concessions import Concession, load_concessions
from monitor.errors import SourceAuthError, SourceError, SourceUnavailableError
from monitor.simulate import Portfolio
from monitor.sources import open_source
from monitor.sources.base import Scene
from monitor.sources.cache import ByteCache, cache_key
from monitor.sources.cube import choose_grid
from monitor.sources.dedupe import collapse_duplicates
from monitor.sources.local import LocalSource
from monitor.sources.sentinelhub import SentinelHubSource
from monitor.sources.sh_catalog import s2_l2a_collection
from monitor.sources.sh_requests import outputs_for, process_request, split_geobox, time_windows
from monitor.sources.sh_session import redact
from monitor.sources.sh_settings import (
    CDSE_BASE_URL,
    CDSE_TOKEN_URL,
    SH_BASE_URL,
    SH_TOKEN_URL,
    Credentials,
    SHSettings,
    make_config,
    parse_spec,
)
from tests.fakes.sentinelhub import CATALOG_PATH, PROCESS_PATH, TOKEN_PATH, FakeSentinelHub
from tests.fakes.service import Fault

BANDS = ["blue", "green", "red", "nir", "nir08", "swir16", "swir22", "scl"]
PERIOD = ("2022-06-01", "2022-09-30")
T0, T1 = datetime(2022, 1, 1, tzinfo=UTC), datetime(2022, 9, 30, 23, 59, tzinfo=UTC)
#: One acquisition (2022-03-16, delivered twice) for the fault tests.
ONE = (datetime(2022, 3, 14, tzinfo=UTC), datetime(2022, 3, 18, tzinfo=UTC))
SECRET = "canary-" + secrets.token_hex(12)


@pytest.fixture(scope="module")
def portfolio(services_portfolio: Portfolio) -> Portfolio:
    return services_portfolio


@pytest.fixture(scope="module")
def clearing(portfolio: Portfolio) -> Concession:
    return load_concessions(portfolio.registry_path)["demo-clearing"]


@pytest.fixture(scope="module")
def service(portfolio: Portfolio) -> Iterator[FakeSentinelHub]:
    """One fake Sentinel Hub for the module (stopping one takes half a second)."""
    with FakeSentinelHub(portfolio.scenes_dir, client_secret=SECRET) as started:
        assert isinstance(started, FakeSentinelHub)
        yield started


@pytest.fixture
def fake(service: FakeSentinelHub, monkeypatch: pytest.MonkeyPatch,
         tmp_path: Path) -> Iterator[FakeSentinelHub]:
    """The fake, reset, and the environment a user would set for it (tests only)."""
    service.clear_faults()
    for log in (service.requests, service.process_calls, service.catalog_bodies):
        log.clear()
    service.omit_context, service.corrupt_answers = False, 0
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # http:// token URL on 127.0.0.1
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in ("SH_CLIENT_ID", "SH_CLIENT_SECRET", "SH_PROFILE", "SH_BASE_URL",
                 "SH_TOKEN_URL", "MONITOR_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name in [k for k in os.environ if k.startswith("MONITOR_SH_")]:
        monkeypatch.delenv(name)
    SentinelHubDownloadClient.clear_cache()
    monkeypatch.setenv("SH_CLIENT_ID", service.client_id)
    monkeypatch.setenv("SH_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("SH_TOKEN_URL", service.token_url)
    monkeypatch.setenv("MONITOR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MONITOR_SH_BACKOFF", "0.02")
    monkeypatch.setenv("MONITOR_SH_MIN_INTERVAL", "0.002")
    yield service
    service.clear_faults()
    SentinelHubDownloadClient.clear_cache()


def _source(fake: FakeSentinelHub) -> SentinelHubSource:
    source = open_source(f"sentinelhub:{fake.url}")
    assert isinstance(source, SentinelHubSource)
    return source


@dataclass
class Loaded:
    scenes: list[Scene]
    geobox: GeoBox
    dn: xr.Dataset


def _load(source: Any, concession: Concession, t0: datetime = T0, t1: datetime = T1,
          geobox: GeoBox | None = None) -> Loaded:
    found = source.search(concession.aoi_lonlat(500), t0, t1)
    kept, _ = collapse_duplicates(found.scenes)
    grid = geobox or choose_grid(concession, kept, 500, None, kept[0].native_grid)
    return Loaded(kept, grid, source.load_dn(kept, grid, BANDS, 2048).compute())


def _compare(a: xr.Dataset, b: xr.Dataset) -> tuple[int, float]:
    """Max abs DN difference and fraction of equal pixels over every band."""
    assert list(a.time.values) == list(b.time.values)
    worst, equal, total = 0, 0, 0
    for band in BANDS:
        assert a[band].dtype == b[band].dtype, band
        diff = np.abs(a[band].values.astype(np.int64) - b[band].values.astype(np.int64))
        worst = max(worst, int(diff.max()))
        equal += int((diff == 0).sum())
        total += diff.size
    return worst, equal / total


# --- configuration ---------------------------------------------------------------------------
def test_specs_name_deployments() -> None:
    env = {"SH_CLIENT_ID": "x", "SH_CLIENT_SECRET": "y"}
    assert parse_spec("sentinelhub", env).base_url == SH_BASE_URL
    assert parse_spec("sentinelhub", env).token_url == SH_TOKEN_URL
    cdse = parse_spec("sentinelhub:cdse", env)
    assert (cdse.base_url, cdse.token_url) == (CDSE_BASE_URL, CDSE_TOKEN_URL)
    uswest = parse_spec("sentinelhub:https://services-uswest2.sentinel-hub.com/", env)
    assert (uswest.base_url, uswest.token_url) == ("https://services-uswest2.sentinel-hub.com",
                                                   SH_TOKEN_URL)
    assert parse_spec("sentinelhub", {**env, "SH_BASE_URL": CDSE_BASE_URL}).token_url == \
        CDSE_TOKEN_URL
    with pytest.raises(SourceError, match="SH_TOKEN_URL"):
        parse_spec("sentinelhub:https://sh.example.org", env)
    with pytest.raises(SourceError, match="not an http"):
        parse_spec("sentinelhub:ftp://x", env)
    with pytest.raises(SourceError, match="MONITOR_SH_TIMEOUT"):
        SHSettings.from_env({"MONITOR_SH_TIMEOUT": "soon"})
    with pytest.raises(SourceError, match="MONITOR_SH_MAX_TILE_PX"):
        SHSettings.from_env({"MONITOR_SH_MAX_TILE_PX": "4000"})
    assert SHSettings.from_env({"MONITOR_SH_CACHE_DIR": "off"}).cache_dir is None
    # one SHConfig decides the deployment: requests go to CDSE, not services.sentinel-hub.com
    config = make_config(cdse, Credentials("x", "y"), SHSettings(cache_dir=None))
    grid = GeoBox.from_bbox((600000, 9290000, 600100, 9290100), "EPSG:32722", resolution=10)
    when = datetime(2022, 1, 5, 13, tzinfo=UTC)
    request = process_request(s2_l2a_collection(), config, (when, when),
                              split_geobox(grid, 2500)[0], outputs_for(BANDS), 100)
    assert request.url == f"{CDSE_BASE_URL}/api/v1/process"
    assert request.post_values["input"]["data"][0]["processing"]["harmonizeValues"] is False
    source = SentinelHubSource.from_spec("sentinelhub:cdse", {**env, "MONITOR_SH_CACHE_DIR":
                                                              "off"})
    assert source.name == f"sentinelhub:{CDSE_BASE_URL}" and not source.cache.enabled
    assert SHSettings.from_env({"MONITOR_CACHE_DIR": "/c"}).cache_dir == Path("/c/sentinelhub")


def test_missing_credentials_say_which_variables(fake: FakeSentinelHub,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SH_CLIENT_SECRET")
    with pytest.raises(SourceAuthError, match="SH_CLIENT_SECRET") as info:
        open_source(f"sentinelhub:{fake.url}")
    assert "set SH_CLIENT_SECRET in the environment" in str(info.value)
    monkeypatch.delenv("SH_CLIENT_ID")
    with pytest.raises(SourceAuthError, match="SH_CLIENT_ID and SH_CLIENT_SECRET"):
        open_source("sentinelhub")


def test_credentials_never_shown() -> None:
    creds = Credentials("id", SECRET)
    assert SECRET not in repr(creds) and SECRET not in str(creds)
    with pytest.raises(TypeError):
        pickle.dumps(creds)
    assert SECRET not in redact(f"client_secret={SECRET}&grant_type=x")
    assert "tok123" not in redact("{'access_token': 'tok123', 'expires_in': 3600}")
    assert "abc.def.ghi" not in redact("Authorization: Bearer abc.def.ghi")


# --- search and pixels -----------------------------------------------------------------------
def test_search_pages_and_decides_radiometry_like_local(
        fake: FakeSentinelHub, portfolio: Portfolio, clearing: Concession,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_SH_PAGE_SIZE", "7")
    found = _source(fake).search(clearing.aoi_lonlat(500), T0, T1)
    local = LocalSource(portfolio.scenes_dir).search(clearing.aoi_lonlat(500), T0, T1)
    n = len(local.scenes)
    assert len(found.scenes) == n and not found.skipped
    assert fake.count(CATALOG_PATH) == -(-n // 7)  # paged through context.next
    assert [b.get("next") for b in fake.catalog_bodies][:2] == [None, 7]

    def key(s: Scene) -> tuple[Any, ...]:
        return (s.scene_id, s.datetime, s.platform, s.tile, s.scale, s.offset,
                s.processing_baseline, s.offset_applied, s.qa_kind)

    assert [key(s) for s in found.scenes] == [key(s) for s in local.scenes]
    assert {s.processing_baseline for s in found.scenes} == {"03.01", "04.00"}
    for scene in found.scenes:
        assert scene.harmonized is False and scene.provider.startswith("sentinel-hub")
        assert json.loads(scene.extra["request"])["processing"]["harmonizeValues"] is False
        assert scene.native_grid == local.scenes[0].native_grid


def test_cloud_filter_is_cql2_text(fake: FakeSentinelHub, clearing: Concession,
                                   portfolio: Portfolio,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_SH_MAX_CLOUD_COVER", "40")
    found = _source(fake).search(clearing.aoi_lonlat(500), T0, T1)
    assert fake.catalog_bodies[0]["filter"] == "eo:cloud_cover <= 40"
    assert fake.catalog_bodies[0]["filter-lang"] == "cql2-text"
    local = LocalSource(portfolio.scenes_dir).search(clearing.aoi_lonlat(500), T0, T1)
    expected = [s.scene_id for s in local.scenes if float(s.extra["cloud_cover"]) <= 40]
    assert [s.scene_id for s in found.scenes] == expected and 0 < len(expected) < len(
        local.scenes)


def test_baseline_read_from_product_id_when_catalog_lacks_it(
        portfolio: Portfolio, clearing: Concession, fake: FakeSentinelHub,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeSentinelHub(portfolio.scenes_dir, client_secret=SECRET,
                         baseline_property=False) as bare:
        monkeypatch.setenv("SH_TOKEN_URL", bare.url + TOKEN_PATH)
        found = open_source(f"sentinelhub:{bare.url}").search(clearing.aoi_lonlat(500), T0, T1)
    assert {s.processing_baseline for s in found.scenes} == {"03.01", "04.00"}
    assert all((s.offset == -0.1) == (s.processing_baseline == "04.00") for s in found.scenes)


def test_load_dn_equals_local_dn(fake: FakeSentinelHub, portfolio: Portfolio,
                                 clearing: Concession) -> None:
    source = _source(fake)
    t1 = datetime(2022, 4, 25, tzinfo=UTC)  # both baselines, the duplicate, the partial scene
    started = time.perf_counter()
    sh = _load(source, clearing, T0, t1)
    elapsed = time.perf_counter() - started
    local = _load(LocalSource(portfolio.scenes_dir), clearing, T0, t1, geobox=sh.geobox)
    worst, frac = _compare(sh.dn, local.dn)
    print(f"\nSentinel Hub vs local DN on {sh.geobox.shape} x {sh.dn.sizes['time']} dates: "
          f"max |diff| {worst}, equal fraction {frac:.6f} ({elapsed:.2f} s for "
          f"{source.last_stats['requests']} Process requests)")
    assert worst == 0 and frac == 1.0
    assert source.last_stats["requests"] == sh.dn.sizes["time"] == fake.count(PROCESS_PATH)
    call = fake.process_calls[0]
    assert (call.harmonize, call.units, call.epsg) == (False, "DN", 32722)
    assert call.samples == ("B02", "B03", "B04", "B08", "B8A", "B11", "B12", "SCL", "dataMask")
    assert (call.width, call.height) == (sh.geobox.shape.x, sh.geobox.shape.y)
    # the partial scene's no-data wedge is DN 0 in every band, as in the local files
    assert (sh.dn["blue"].values == 0).any()
    assert sh.dn.coords["spatial_ref"].item() == 32722


def test_unaligned_grid_measured_against_local(fake: FakeSentinelHub, portfolio: Portfolio,
                                               clearing: Concession) -> None:
    grid = GeoBox.from_bbox((601255.0, 9298055.0, 602455.0, 9299255.0), "EPSG:32722",
                            resolution=10)
    t1 = datetime(2022, 2, 10, tzinfo=UTC)
    sh = _load(_source(fake), clearing, T0, t1, geobox=grid)
    local = _load(LocalSource(portfolio.scenes_dir), clearing, T0, t1, geobox=grid)
    worst, frac = _compare(sh.dn, local.dn)
    print(f"\nhalf-pixel shifted grid: max |diff| {worst}, equal fraction {frac:.6f}")
    assert frac > 0.99


def test_large_areas_split_into_tiles_and_mosaicked(
        fake: FakeSentinelHub, portfolio: Portfolio, clearing: Concession,
        monkeypatch: pytest.MonkeyPatch) -> None:
    t1 = datetime(2022, 1, 12, tzinfo=UTC)  # two acquisitions
    # 2600 x 40 px at 10 m: over Sentinel Hub's 2500 px limit, the seam crosses the scene
    strip = GeoBox.from_bbox((588600.0, 9298000.0, 614600.0, 9298400.0), "EPSG:32722",
                             resolution=10)
    sh = _load(_source(fake), clearing, T0, t1, geobox=strip)
    assert max(max(c.width, c.height) for c in fake.process_calls) <= 2500
    assert len(fake.process_calls) == 2 * sh.dn.sizes["time"]
    local = _load(LocalSource(portfolio.scenes_dir), clearing, T0, t1, geobox=strip)
    assert _compare(sh.dn, local.dn) == (0, 1.0)
    assert (sh.dn["red"].values[:, :, 1290:1310] > 0).all()  # data on both sides of the seam
    # small tiles on the concession's own grid: 3 x 3 requests per date, same pixels
    monkeypatch.setenv("MONITOR_SH_MAX_TILE_PX", "100")
    before = len(fake.process_calls)
    tiled = _load(_source(fake), clearing, T0, t1)
    assert len(fake.process_calls) - before == 9 * tiled.dn.sizes["time"]
    whole = _load(LocalSource(portfolio.scenes_dir), clearing, T0, t1, geobox=tiled.geobox)
    assert _compare(tiled.dn, whole.dn) == (0, 1.0)


# --- checks end to end -----------------------------------------------------------------------
def _check(portfolio: Portfolio, source: str) -> CheckResult:
    return monitor.check("demo-clearing", aoi=portfolio.registry_path, source=source,
                         start=PERIOD[0], end=PERIOD[1])


def _finding_table(result: CheckResult) -> dict[tuple[str, str], dict[str, Any]]:
    return {(f.indicator, f.zone): f.to_dict() for f in result.findings}


@pytest.fixture(scope="module")
def local_check(portfolio: Portfolio) -> CheckResult:
    return _check(portfolio, f"local:{portfolio.scenes_dir}")


def test_check_gives_the_same_findings_as_local(fake: FakeSentinelHub, portfolio: Portfolio,
                                                local_check: CheckResult) -> None:
    local = local_check
    started = time.perf_counter()
    sh = _check(portfolio, f"sentinelhub:{fake.url}")
    elapsed = time.perf_counter() - started
    a, b = _finding_table(sh), _finding_table(local)
    assert a.keys() == b.keys()
    worst = 0.0
    for key, fa in a.items():
        fb = b[key]
        for field in ("outcome", "severity", "zone_id", "limit", "unit", "n_clear_obs",
                      "n_clear_px", "onset", "event_status", "alert_id", "finding_id"):
            assert fa[field] == fb[field], (key, field)
        if fa["value"] is not None or fb["value"] is not None:
            worst = max(worst, abs(fa["value"] - fb["value"]))
    print(f"\ndemo-clearing: {len(a)} findings, max |value diff| {worst} (check via Sentinel "
          f"Hub {elapsed:.1f} s)")
    assert worst <= 1e-9
    outcomes = {k: (v["outcome"], v["severity"]) for k, v in a.items()}
    assert outcomes[("vegetation_loss", "exclusion_zone")] == ("exceedance", "violation")
    assert outcomes[("vegetation_loss", "licence_outside_footprint")][0] == "exceedance"
    assert sh.skipped_scenes == local.skipped_scenes  # the duplicate delivery, both ways
    assert sh.cube is not None and local.cube is not None
    for var in ("blue", "red", "nir", "swir16", "clear", "clear_vegetation"):
        assert np.array_equal(sh.cube[var].values, local.cube[var].values, equal_nan=True), var
    assert list(sh.cube["offset"].values) == list(local.cube["offset"].values)
    assert sh.source == f"sentinelhub:{fake.url}"
    assert SECRET not in json.dumps(sh.request) + json.dumps(sh.to_dict()) + repr(sh)


def test_cli_check_configured_by_environment(fake: FakeSentinelHub, portfolio: Portfolio,
                                             local_check: CheckResult, tmp_path: Path) -> None:
    # only SH_CLIENT_ID, SH_CLIENT_SECRET and SH_TOKEN_URL (+ the test-only settings)
    result = CliRunner().invoke(main, [
        "check", "demo-clearing", "--aoi", str(portfolio.registry_path), "--from", PERIOD[0],
        "--to", PERIOD[1], "--json", "--source", f"sentinelhub:{fake.url}",
        "--package", str(tmp_path / "pkg")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["findings"] == json.loads(json.dumps(local_check.to_dict()))["findings"]
    files = [p for p in (tmp_path / "pkg").rglob("*") if p.is_file()]
    assert files, "the evidence package was built"
    assert not [p for p in files if SECRET.encode() in p.read_bytes()]
    assert SECRET not in result.output
    provenance = next(p for p in files if p.name == "provenance.json").read_text()
    assert f"sentinelhub:{fake.url}" in provenance


def test_outage_makes_check_fail_without_verdict(fake: FakeSentinelHub,
                                                 portfolio: Portfolio,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_SH_MAX_ATTEMPTS", "2")
    fake.fail(Fault("status", path=PROCESS_PATH, status=503, times=10_000))
    with pytest.raises(SourceUnavailableError, match=fake.url):
        _check(portfolio, f"sentinelhub:{fake.url}")
    result = CliRunner().invoke(main, [
        "check", "demo-clearing", "--aoi", str(portfolio.registry_path), "--source",
        f"sentinelhub:{fake.url}", "--from", PERIOD[0], "--to", PERIOD[1], "--json"])
    assert result.exit_code != 0
    assert "findings" not in result.stdout and "compliant" not in result.stdout
    fake.clear_faults()
    fake.fail(Fault("status", path=CATALOG_PATH, status=502, times=10_000))
    with pytest.raises(SourceUnavailableError, match="Catalog"):
        _check(portfolio, f"sentinelhub:{fake.url}")


# --- faults ----------------------------------------------------------------------------------
def test_server_errors_are_retried_and_counted(fake: FakeSentinelHub,
                                               clearing: Concession) -> None:
    fake.fail(Fault("status", path=PROCESS_PATH, status=500, times=2))
    fake.fail(Fault("status", path=CATALOG_PATH, status=502, times=1))
    source = _source(fake)
    loaded = _load(source, clearing, *ONE)
    assert fake.count(CATALOG_PATH, fault=True) == 1 and fake.count(CATALOG_PATH) == 2
    assert fake.count(PROCESS_PATH, fault=True) == 2
    assert fake.count(PROCESS_PATH) == 3 and loaded.dn.sizes["time"] == 1
    assert source.last_stats["retries"] == 2 and source.last_stats["attempts"] == 3


@pytest.mark.parametrize("threads", [1, 4])
def test_retry_after_is_honoured(fake: FakeSentinelHub, clearing: Concession,
                                 monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    monkeypatch.setenv("MONITOR_SH_THREADS", str(threads))
    wait = 0.4
    fake.fail(Fault("retry_after", path=CATALOG_PATH, retry_after_s=wait))
    fake.fail(Fault("retry_after", path=PROCESS_PATH, retry_after_s=wait))
    source = _source(fake)
    _load(source, clearing, T0, datetime(2022, 2, 1, tzinfo=UTC))  # six acquisitions
    for path in (CATALOG_PATH, PROCESS_PATH):
        log = [r for r in fake.requests if r.path.startswith(path)]
        limited = next(r for r in log if r.fault == "retry_after")
        later = [r for r in log if r.at > limited.at]
        early = [r for r in later if r.at < limited.at + wait]
        print(f"\n{path} threads={threads}: {len(later)} requests after the 429, "
              f"{len(early)} before Retry-After expired; first after "
              f"{min((r.at - limited.at for r in later), default=0):.3f} s")
        # none with one thread; with N threads at most the N-1 that had already been sent
        # (passed the gate) when the 429 arrived: every other request waits for the gate
        assert len(early) <= threads - 1
        assert all(r.at >= limited.at + wait for r in later[threads - 1:])
    assert source.last_stats["rate_limited"] == 1


def test_retry_after_beyond_the_limit_fails_at_once(fake: FakeSentinelHub,
                                                    clearing: Concession,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_SH_MAX_RETRY_AFTER", "5")
    fake.fail(Fault("retry_after", path=CATALOG_PATH, retry_after_s=3600))
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError, match="Retry-After"):
        _source(fake).search(clearing.aoi_lonlat(500), *ONE)
    assert time.monotonic() - started < 2 and fake.count(CATALOG_PATH) == 1


def test_stall_gives_bounded_retries_then_unavailable(fake: FakeSentinelHub,
                                                      clearing: Concession,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_SH_TIMEOUT", "0.3")
    monkeypatch.setenv("MONITOR_SH_MAX_ATTEMPTS", "3")
    source = _source(fake)
    found = source.search(clearing.aoi_lonlat(500), *ONE)
    kept, _ = collapse_duplicates(found.scenes)
    grid = choose_grid(clearing, kept, 500, None, kept[0].native_grid)
    fake.fail(Fault("stall", path=PROCESS_PATH, stall_s=10, times=100))
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError) as info:
        source.load_dn(kept, grid, BANDS, 2048)
    elapsed = time.monotonic() - started
    message = str(info.value)
    print(f"\nstalled service: gave up after {elapsed:.2f} s: {message}")
    assert fake.url in message and "Process request for 2022-03-16" in message
    assert "timed out" in message and "3 failed attempt" in message
    assert fake.count(PROCESS_PATH) == 3 and elapsed < 3 * 0.3 + 0.5 + 1.0


def test_total_time_is_bounded_even_with_many_attempts(fake: FakeSentinelHub,
                                                       clearing: Concession,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_SH_TIMEOUT", "0.3")
    monkeypatch.setenv("MONITOR_SH_MAX_ATTEMPTS", "20")
    monkeypatch.setenv("MONITOR_SH_TOTAL_TIMEOUT", "1")
    fake.fail(Fault("stall", path=CATALOG_PATH, stall_s=10, times=100))
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError, match="Sentinel Hub at"):
        _source(fake).search(clearing.aoi_lonlat(500), *ONE)
    assert time.monotonic() - started < 1.8 and fake.count(CATALOG_PATH) <= 4


def test_truncated_answers_are_retried_and_never_cached(fake: FakeSentinelHub,
                                                        clearing: Concession,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    fake.fail(Fault("truncate", path=PROCESS_PATH, times=1))
    source = _source(fake)
    first = _load(source, clearing, *ONE)
    assert fake.count(PROCESS_PATH, fault=True) == 1 and fake.count(PROCESS_PATH) == 2
    entries = list((tmp_path / "cache").rglob("*.bin"))
    assert len(entries) == 1 and source.cache.get(entries[0].stem) is not None
    # a cut body with a matching Content-Length: caught when decoding, retried, not cached
    entries[0].unlink()
    fake.corrupt_answers = 1
    again = _load(_source(fake), clearing, *ONE)
    assert fake.corrupt_answers == 0 and fake.count(PROCESS_PATH) == 4
    assert _compare(first.dn, again.dn) == (0, 1.0)
    assert list((tmp_path / "cache").rglob("*.bin")) == entries
    assert source.cache.get(entries[0].stem) is not None
    # truncated every time: a clear error, and nothing cached
    monkeypatch.setenv("MONITOR_SH_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("MONITOR_SH_MAX_TILE_PX", "200")  # new requests, not in the cache
    fake.fail(Fault("truncate", path=PROCESS_PATH, times=100))
    with pytest.raises(SourceUnavailableError, match="truncated") as info:
        _load(_source(fake), clearing, *ONE, geobox=first.geobox)
    print(f"\ntruncated every time: {info.value}")
    assert list((tmp_path / "cache").rglob("*.bin")) == entries


def test_bad_secret_is_an_auth_error_without_the_secret(fake: FakeSentinelHub,
                                                        clearing: Concession,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "wrong-" + secrets.token_hex(8)
    monkeypatch.setenv("SH_CLIENT_SECRET", wrong)
    with pytest.raises(SourceAuthError) as info:
        _source(fake).search(clearing.aoi_lonlat(500), *ONE)
    message = str(info.value)
    print(f"\nbad secret: {message}")
    assert "SH_CLIENT_SECRET" in message and "invalid_client" in message
    assert wrong not in message and SECRET not in message
    assert wrong not in repr(info.value.__context__) if info.value.__context__ else True
    assert fake.count(TOKEN_PATH) == 1  # a refused secret is not retried
    assert fake.count(CATALOG_PATH) == 0


def test_rejections_are_not_retried(fake: FakeSentinelHub, clearing: Concession) -> None:
    source = _source(fake)
    found = source.search(clearing.aoi_lonlat(500), *ONE)
    kept, _ = collapse_duplicates(found.scenes)
    grid = choose_grid(clearing, kept, 500, None, kept[0].native_grid)
    fake.fail(Fault("unauthorized", path=PROCESS_PATH))
    with pytest.raises(SourceAuthError, match="HTTP 401"):
        source.load_dn(kept, grid, BANDS, 2048)
    assert fake.count(PROCESS_PATH) == 1
    fake.fail(Fault("status", path=PROCESS_PATH, status=400))
    with pytest.raises(SourceError, match="HTTP 400") as info:
        source.load_dn(kept, grid, BANDS, 2048)
    assert not isinstance(info.value, SourceUnavailableError)
    assert fake.count(PROCESS_PATH) == 2


def test_catalog_answer_without_context_is_a_clear_error(fake: FakeSentinelHub,
                                                         clearing: Concession) -> None:
    fake.omit_context = True
    with pytest.raises(SourceError, match="not a STAC search result"):
        _source(fake).search(clearing.aoi_lonlat(500), *ONE)


def test_secret_never_in_logs_reprs_errors_or_provenance(
        fake: FakeSentinelHub, clearing: Concession, caplog: pytest.LogCaptureFixture,
        tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    source = _source(fake)
    loaded = _load(source, clearing, *ONE)
    fake.fail(Fault("status", path=PROCESS_PATH, status=500, times=100))
    source.cache.enabled = False
    with pytest.raises(SourceUnavailableError) as info:
        source.load_dn(loaded.scenes, loaded.geobox, BANDS, 2048)
    tokens = set(fake.tokens)
    assert tokens, "a token was issued"
    texts = {
        "logs": caplog.text,
        "repr": repr(source) + repr(source.settings) + source.name + repr(source.cache),
        "error": str(info.value) + repr(info.value),
        "scenes": json.dumps([{**s.extra, "assets": dict(s.assets), "id": s.scene_id}
                              for s in loaded.scenes]),
        "stats": json.dumps(source.last_stats),
        "request": json.dumps(source.request_parameters()),
        "attrs": json.dumps({k: str(v) for k, v in loaded.dn.attrs.items()}),
    }
    # requests-oauthlib logs the token request body at DEBUG: it is there, redacted
    assert "client_secret=***" in caplog.text
    configs = [p for p in (tmp_path / "xdg").rglob("*") if p.is_file()] \
        if (tmp_path / "xdg").exists() else []
    assert configs == [], "no sentinelhub-py config file is written"
    for where, text in texts.items():
        assert SECRET not in text, where
        assert not [t for t in tokens if t in text], where


# --- cache -----------------------------------------------------------------------------------
def test_rerun_reads_the_cache_and_repairs_damaged_entries(fake: FakeSentinelHub,
                                                           clearing: Concession,
                                                           tmp_path: Path) -> None:
    t1 = datetime(2022, 2, 1, tzinfo=UTC)
    first = _load(_source(fake), clearing, T0, t1)
    n = fake.count(PROCESS_PATH)
    assert n == first.dn.sizes["time"]
    source = _source(fake)
    again = _load(source, clearing, T0, t1)
    assert fake.count(PROCESS_PATH) == n, "a rerun makes no Process request"
    assert source.last_stats["from_cache"] == n and source.cache.stats.hits == n
    xr.testing.assert_identical(first.dn, again.dn)
    entries = sorted((tmp_path / "cache").rglob("*.bin"))
    assert len(entries) == n
    flipped = bytearray(entries[0].read_bytes())
    flipped[len(flipped) // 2] ^= 0xFF
    entries[0].write_bytes(bytes(flipped))
    entries[1].write_bytes(entries[1].read_bytes()[:-100])
    source = _source(fake)
    repaired = _load(source, clearing, T0, t1)
    assert fake.count(PROCESS_PATH) == n + 2 and source.cache.stats.corrupt == 2
    xr.testing.assert_identical(first.dn, repaired.dn)
    assert all(source.cache.get(p.stem) is not None for p in entries)


def test_byte_cache_is_atomic_and_checksummed(tmp_path: Path) -> None:
    cache = ByteCache(tmp_path)
    key = cache_key("u", {"b": 1, "a": [1, 2]})
    assert key == cache_key("u", {"a": [1, 2], "b": 1})
    assert cache.get(key) is None
    cache.put(key, b"payload")
    assert cache.get(key) == b"payload"
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    cache.path(key).write_bytes(cache.path(key).read_bytes().replace(b"payload", b"paYload"))
    assert cache.get(key) is None and not cache.path(key).exists()
    assert ByteCache(None).get(key) is None


def test_time_windows_never_overlap() -> None:
    t = datetime(2022, 1, 1, 13, tzinfo=UTC)
    close = [t, t + timedelta(seconds=0.6), t + timedelta(days=5)]
    windows = time_windows(close)
    assert windows[0] == (t - timedelta(seconds=0.5), t + timedelta(seconds=0.3, microseconds=-1))
    assert windows[1][0] == t + timedelta(seconds=0.3)
    assert windows[2] == (close[2] - timedelta(seconds=0.5), close[2] + timedelta(seconds=0.5))
    assert all(a[1] < b[0] for a, b in itertools.pairwise(windows))

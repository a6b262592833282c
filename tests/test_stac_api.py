"""STAC API sources: the real pystac-client, odc-stac and GDAL against a fake API on 127.0.0.1.

One small synthetic portfolio (Dec 2021 - Oct 2022, across the 04.00 baseline switch) is
served by :class:`tests.fakes.stac_api.FakeStacApi` as Earth Search or Planetary Computer
would serve it; pixels, reflectance and findings must equal the local source's.
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import requests
import xarray as xr
from click.testing import CliRunner

import monitor
from monitor.checking import CheckResult
from monitor.cli import main
from monitor.concessions import Concession, load_concessions
from monitor.errors import SceneSkippedWarning, SourceAuthError, SourceError, SourceUnavailableError
from monitor.evidence.package import build_package
from monitor.simulate import Portfolio
from monitor.sources import LocalSource, open_source
from monitor.sources.cube import choose_grid, load_cube
from monitor.sources.stac import StacApiSource
from monitor.sources.stac_config import StacSettings, parse_spec
from monitor.sources.stac_http import RetryPolicy, parse_retry_after, redact
from tests.fakes.service import Fault
from tests.fakes.stac_api import FakeStacApi

PERIOD = ("2022-06-01", "2022-10-01")
#: Short fault-test settings: every loop and wait is bounded to a second or two.
FAST = "timeout=2&retries=2&backoff=0.1&max_retry_after=5&read_timeout=1&read_retries=1" \
       "&read_retry_delay=0.1"
BANDS = ["blue", "green", "red", "nir", "nir08", "swir16", "swir22", "scl"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MONITOR_STAC_* or PC_SDK_* setting of the developer's shell leaks into a test."""
    import os

    for name in list(os.environ):
        if name.startswith(("MONITOR_STAC_", "PC_SDK_")):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def portfolio(services_portfolio: Portfolio) -> Portfolio:
    return services_portfolio


@pytest.fixture(scope="module")
def clearing(portfolio: Portfolio) -> Concession:
    return load_concessions(portfolio.registry_path)["demo-clearing"]


@pytest.fixture(scope="module")
def api(portfolio: Portfolio) -> Iterator[FakeStacApi]:
    """Earth-Search-flavoured fake shared by the happy-path tests."""
    with FakeStacApi(portfolio.scenes_dir, max_limit=50) as fake:
        assert isinstance(fake, FakeStacApi)
        yield fake


@pytest.fixture(scope="module")
def shared_search_api(portfolio: Portfolio) -> Iterator[FakeStacApi]:
    with FakeStacApi(portfolio.scenes_dir) as fake:
        assert isinstance(fake, FakeStacApi)
        yield fake


@pytest.fixture
def search_api(shared_search_api: FakeStacApi) -> Iterator[FakeStacApi]:
    """A fake for search faults: fresh faults and request log (GDAL never caches /search)."""
    shared_search_api.clear_faults()
    shared_search_api.requests.clear()
    yield shared_search_api
    shared_search_api.clear_faults()


@pytest.fixture
def fresh_api(portfolio: Portfolio) -> Iterator[FakeStacApi]:
    """A fake of its own (fault tests: scripted faults and GDAL's URL cache stay apart)."""
    with FakeStacApi(portfolio.scenes_dir) as fake:
        assert isinstance(fake, FakeStacApi)
        yield fake


@pytest.fixture
def pc_api(portfolio: Portfolio, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStacApi]:
    """Planetary-Computer-flavoured fake; the package's SAS endpoint variable points at it."""
    with FakeStacApi(portfolio.scenes_dir, flavour="planetary-computer") as fake:
        assert isinstance(fake, FakeStacApi)
        monkeypatch.setenv("PC_SDK_SAS_URL", fake.sas_url)
        yield fake


def _check(portfolio: Portfolio, source: str, **period: str) -> CheckResult:
    when = period or {"start": PERIOD[0], "end": PERIOD[1]}
    return monitor.check("demo-clearing", aoi=portfolio.registry_path, source=source,
                         **when)  # type: ignore[arg-type]


def _cube(source: object, concession: Concession, start: str, end: str) -> xr.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SceneSkippedWarning)
        return load_cube(source, concession, start, end).compute()  # type: ignore[arg-type]


def _same(a: xr.DataArray, b: xr.DataArray) -> tuple[float, float]:
    """(max abs difference, fraction of pixels equal; NaN equals NaN)."""
    x, y = a.values.astype("float64"), b.values.astype("float64")
    both_nan = np.isnan(x) & np.isnan(y)
    diff = np.where(both_nan, 0.0, np.abs(x - y))
    return float(np.nanmax(np.where(np.isnan(diff), np.inf, diff))), float(
        np.mean(both_nan | (x == y)))


@pytest.fixture(scope="module")
def local_result(portfolio: Portfolio) -> CheckResult:
    return _check(portfolio, f"local:{portfolio.scenes_dir}")


@pytest.fixture(scope="module")
def stac_result(portfolio: Portfolio, api: FakeStacApi) -> CheckResult:
    return _check(portfolio, f"stac:{api.url}")


def _finding_rows(result: CheckResult) -> list[tuple[object, ...]]:
    return sorted((f.indicator, f.zone, f.outcome, f.severity, f.value, f.limit, f.unit,
                   f.n_clear_obs, f.n_clear_px, f.onset, f.confidence) for f in result.findings)


# --- the fake behaves like a COG host and a STAC API -----------------------------------------
def test_fake_serves_cogs_with_ranges(api: FakeStacApi, portfolio: Portfolio) -> None:
    scene = portfolio.scene_ids[0]
    url = api.asset_url(scene, "red")
    size = (portfolio.scenes_dir / scene / "red.tif").stat().st_size
    head = requests.head(url, timeout=5)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == size
    part = requests.get(url, headers={"Range": "bytes=0-99"}, timeout=5)
    assert part.status_code == 206 and part.content[:2] in (b"II", b"MM")
    assert part.headers["Content-Range"] == f"bytes 0-99/{size}" and len(part.content) == 100
    tail = requests.get(url, headers={"Range": "bytes=-10"}, timeout=5)
    assert tail.status_code == 206 and len(tail.content) == 10
    assert requests.get(url, headers={"Range": f"bytes={size}-"}, timeout=5).status_code == 416
    assert requests.get(url.replace("red.tif", "B04.jp2"), timeout=5).status_code == 404


def test_search_pages_and_matches_local(api: FakeStacApi, portfolio: Portfolio,
                                        clearing: Concession) -> None:
    start, end = datetime(2022, 1, 1, tzinfo=UTC), datetime(2022, 4, 30, 23, 59, tzinfo=UTC)
    local = LocalSource(portfolio.scenes_dir).search(clearing.aoi_lonlat(500), start, end)
    before = len(api.requests)
    found = StacApiSource.from_spec(f"{api.url}#page_size=4").search(
        clearing.aoi_lonlat(500), start, end)
    searches = [r for r in api.requests[before:] if r.path == "/search"]
    ids = [s.scene_id for s in found.scenes]
    print(f"\nsearch: {len(ids)} scenes in {len(searches)} pages of 4")
    assert ids == [s.scene_id for s in local.scenes] and len(ids) > 8
    assert len(searches) == math.ceil(len(ids) / 4) and all(r.method == "POST" for r in searches)
    body = json.loads(searches[0].body)
    assert body["collections"] == ["sentinel-2-l2a"] and body["intersects"]["type"] == "Polygon"
    assert body["limit"] == 4 and "query" not in body and "filter" not in body
    scene = found.scenes[0]
    assert scene.tile == "22MFT" and scene.platform.startswith("sentinel-2")
    assert all(".jp2" not in href for s in found.scenes for href in s.assets.values())
    assert scene.native_grid is not None and scene.native_grid[0] == "EPSG:32722"


def test_cloud_limit_uses_query_or_filter(api: FakeStacApi, portfolio: Portfolio,
                                          clearing: Concession) -> None:
    start, end = datetime(2022, 1, 1, tzinfo=UTC), datetime(2022, 9, 30, tzinfo=UTC)
    aoi = clearing.aoi_lonlat(500)
    clouds = {}
    for path in portfolio.scenes_dir.glob("*/scene.json"):
        meta = json.loads(path.read_text())
        when = datetime.fromisoformat(meta["datetime"].replace("Z", "+00:00"))
        if start <= when <= end:
            clouds[meta["scene_id"]] = meta["cloud_cover"]
    before = len(api.requests)
    found = StacApiSource.from_spec(f"{api.url}#max_cloud=30").search(aoi, start, end)
    assert json.loads(api.requests[before:][-1].body)["query"] == {
        "eo:cloud_cover": {"lte": 30.0}}
    assert {s.scene_id for s in found.scenes} == {i for i, c in clouds.items() if c <= 30}
    assert 0 < len(found.scenes) < len(clouds)
    with FakeStacApi(portfolio.scenes_dir, query_extension=False) as cql2_only:
        again = StacApiSource.from_spec(f"{cql2_only.url}#max_cloud=30").search(aoi, start, end)
        body = json.loads(cql2_only.requests[-1].body)
    assert body["filter"]["op"] == "<=" and "query" not in body
    assert [s.scene_id for s in again.scenes] == [s.scene_id for s in found.scenes]


def test_get_search_pages_through_next_links(api: FakeStacApi, clearing: Concession) -> None:
    from pystac_client import Client

    bbox = list(clearing.aoi_lonlat(500).bounds)
    search = Client.open(api.url).search(method="GET", collections=["sentinel-2-l2a"],
                                         bbox=bbox, limit=3,
                                         datetime="2022-01-01/2022-03-31",
                                         filter="eo:cloud_cover < 50", filter_lang="cql2-text")
    items = list(search.items())
    assert len(items) > 3 and all(i.properties["eo:cloud_cover"] < 50 for i in items)
    gets = [r for r in api.requests if r.path == "/search" and r.method == "GET"]
    assert len(gets) >= 2 and "token=next" in gets[-1].query


def test_too_many_items_is_an_error_not_a_silent_cut(api: FakeStacApi,
                                                      clearing: Concession) -> None:
    src = StacApiSource.from_spec(f"{api.url}#max_items=5&page_size=3")
    with pytest.raises(SourceError, match=r"more than 5 items.*MONITOR_STAC_MAX_ITEMS"):
        src.search(clearing.aoi_lonlat(500), datetime(2022, 1, 1, tzinfo=UTC),
                   datetime(2022, 6, 1, tzinfo=UTC))


# --- pixels, reflectance, findings equal the local source's ---------------------------------
def test_dn_equal_local_on_the_same_grid(api: FakeStacApi, portfolio: Portfolio,
                                         clearing: Concession) -> None:
    # across the baseline switch (2022-01-25) and the duplicate of 2022-03-18
    start, end = datetime(2022, 1, 10, tzinfo=UTC), datetime(2022, 3, 20, tzinfo=UTC)
    aoi = clearing.aoi_lonlat(500)
    local, stac = LocalSource(portfolio.scenes_dir), StacApiSource.from_spec(api.url)
    lf, sf = local.search(aoi, start, end), stac.search(aoi, start, end)
    assert [s.scene_id for s in lf.scenes] == [s.scene_id for s in sf.scenes]
    geobox = choose_grid(clearing, lf.scenes, 500.0, None, lf.scenes[0].native_grid)
    assert geobox == choose_grid(clearing, sf.scenes, 500.0, None, sf.scenes[0].native_grid)
    ldn = local.load_dn(lf.scenes, geobox, BANDS, 2048).compute()
    sdn = stac.load_dn(sf.scenes, geobox, BANDS, 2048).compute()
    print(f"\nDN on {geobox.shape} x {ldn.sizes['time']} times:")
    for band in BANDS:
        assert sdn[band].dtype == ldn[band].dtype, band
        worst, equal = _same(sdn[band], ldn[band])
        print(f"  {band:7s} max |diff| {worst:g}, equal {equal:.4%}")
        assert worst == 0 and equal == 1.0
    for a, b in zip(sf.scenes, lf.scenes, strict=True):
        assert (a.scale, a.offset, a.processing_baseline) == (b.scale, b.offset,
                                                              b.processing_baseline)


def test_check_gives_the_same_findings_as_local(local_result: CheckResult,
                                                stac_result: CheckResult) -> None:
    rows_local, rows_stac = _finding_rows(local_result), _finding_rows(stac_result)
    print("\nfindings (local == stac):")
    for row in rows_stac:
        print("  ", row[:6])
    assert rows_stac == rows_local
    assert ("vegetation_loss", "exclusion_zone", "exceedance", "violation") in {
        r[:4] for r in rows_stac}
    assert stac_result.source.startswith("stac:http://127.0.0.1:")
    assert stac_result.skipped_scenes == local_result.skipped_scenes


def test_reflectance_equals_local_and_scale_is_applied_once(
        local_result: CheckResult, stac_result: CheckResult, api: FakeStacApi,
        clearing: Concession) -> None:
    ls, ss = local_result.cube, stac_result.cube
    assert ls is not None and ss is not None
    assert list(ss.scene_id.values) == list(ls.scene_id.values)
    print(f"\ncube reflectance, {ss.sizes['time']} acquisitions:")
    for band in [*BANDS[:-1], "clear", "clear_vegetation"]:
        worst, equal = _same(ss[band], ls[band])
        print(f"  {band:16s} max |diff| {worst:g}, equal {equal:.4%}")
        assert worst == 0 and equal == 1.0
    offsets = set(np.round(ss.offset.values, 6))
    assert offsets == {0.0, -0.1} and set(ss.scale.values) == {1e-4}
    # the recipe, once: reflectance = DN * 0.0001 + offset, where offset is the item's own
    # raster:bands offset (-0.1 from baseline 04.00, 0 before); twice or never would differ
    stac = StacApiSource.from_spec(api.url)
    found = stac.search(clearing.aoi_lonlat(500), datetime(2022, 5, 1, tzinfo=UTC),
                        datetime(2022, 5, 31, tzinfo=UTC))
    dn = stac.load_dn(found.scenes[:2], ss.odc.geobox, ["red"], 2048).compute()
    t = [list(ss.scene_id.values).index(s.scene_id) for s in found.scenes[:2]]
    red_dn = dn["red"].values.astype("float32")
    expected = np.where(red_dn == 0, np.nan, red_dn * np.float32(1e-4) + np.float32(-0.1))
    np.testing.assert_allclose(ss["red"].values[t], expected, rtol=0, atol=1e-6)
    assert float(np.nanmin(ss["red"].values[t])) < 0.5


def test_cli_check_with_a_stac_source(api: FakeStacApi, portfolio: Portfolio,
                                      local_result: CheckResult) -> None:
    started = time.monotonic()
    result = CliRunner().invoke(main, [
        "check", "demo-clearing", "--aoi", str(portfolio.registry_path),
        "--source", f"stac:{api.url}", "--from", PERIOD[0], "--to", PERIOD[1], "--json"])
    assert result.exit_code == 0, result.output
    findings = json.loads(result.stdout)["findings"]
    print(f"\nmonitor check --source stac:URL: {len(findings)} findings in "
          f"{time.monotonic() - started:.1f} s")
    assert findings == [f.to_dict() for f in local_result.findings]


# --- Planetary Computer: signing -----------------------------------------------------------
def test_planetary_computer_assets_are_signed_and_the_token_never_leaks(
        pc_api: FakeStacApi, portfolio: Portfolio, clearing: Concession,
        caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    pc_api.fail(Fault("retry_after", path="/api/sas/", retry_after_s=0.3))  # retried too
    spec = f"stac:{pc_api.url}#flavour=planetary-computer"
    source = open_source(spec)
    result = _check(portfolio, spec, before="2022-06-01", after="2022-07-10")
    local = _check(portfolio, f"local:{portfolio.scenes_dir}", before="2022-06-01",
                   after="2022-07-10")
    assert _finding_rows(result) == _finding_rows(local)
    assert result.cube is not None and local.cube is not None
    assert _same(result.cube["nir"], local.cube["nir"]) == (0.0, 1.0)
    reads = [r for r in pc_api.requests if r.path.startswith("/sentinel2l2a01/")]
    assert reads and all(r.authorized and "sig=" in r.query for r in reads)
    assert not any("TCI" in r.path for r in reads), "the 3-band visual asset is never read"
    assert 1 <= pc_api.tokens_issued <= 2
    sas = [r for r in pc_api.requests if r.path.startswith("/api/sas/")]
    assert sas[0].fault == "retry_after" and sas[1].at - sas[0].at >= 0.3
    package = build_package(result, tmp_path / "pkg", include_report=False)
    secret = pc_api.sas_signature
    seen = {"logs": caplog.text, "repr": repr(source) + source.name,
            "result": json.dumps(result.to_dict()) + json.dumps(dict(result.request)),
            "cube attrs": json.dumps({k: str(v) for k, v in result.cube.attrs.items()}),
            "scene ids": " ".join(map(str, result.cube.scene_id.values))}
    seen["package"] = "".join(p.read_bytes().decode("latin-1")
                              for p in package.path.rglob("*") if p.is_file())
    print(f"\nPlanetary Computer: {len(reads)} signed reads, {pc_api.tokens_issued} token(s); "
          f"signature found in: {[k for k, v in seen.items() if secret in v] or 'nothing'}")
    assert not [k for k, v in seen.items() if secret in v]


def test_unsigned_planetary_computer_reads_are_refused(pc_api: FakeStacApi,
                                                       portfolio: Portfolio,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    url = pc_api.asset_url(portfolio.scene_ids[-1], "red")
    assert requests.get(url, timeout=5).status_code == 403
    caplog.set_level(logging.DEBUG)
    # flavour generic: nothing signs, the host refuses, the check fails with a typed error
    with pytest.raises(SourceAuthError, match=r"127\.0\.0\.1.*refused") as info:
        _check(portfolio, f"stac:{pc_api.url}#flavour=generic&{FAST}", before="2022-06-01",
               after="2022-06-20")
    assert "sig=" not in str(info.value)
    # a bad signature is refused too, and the signature in the URL is never repeated
    with pytest.raises(SourceAuthError) as signed:
        bad = StacApiSource.from_spec(f"{pc_api.url}#flavour=planetary-computer&{FAST}")
        assert bad._signer is not None
        bad._signer.sign = lambda href: href + "?st=x&se=2999-01-01T00:00:00Z&sp=rl&sig=WRONG"  # type: ignore[method-assign]
        _check(portfolio, bad, before="2022-06-01", after="2022-06-20")  # type: ignore[arg-type]
    assert "WRONG" not in str(signed.value) and "WRONG" not in caplog.text


# --- faults --------------------------------------------------------------------------------
def _search(fake: FakeStacApi, clearing: Concession, options: str = FAST) -> list[str]:
    src = StacApiSource.from_spec(f"{fake.url}#{options}")
    found = src.search(clearing.aoi_lonlat(500), datetime(2022, 6, 1, tzinfo=UTC),
                       datetime(2022, 6, 30, tzinfo=UTC))
    return [s.scene_id for s in found.scenes]


def _searches(fake: FakeStacApi) -> list[tuple[float, str | None]]:
    return [(r.at, r.fault) for r in fake.requests if r.path == "/search"]


def test_search_500_then_success(search_api: FakeStacApi, clearing: Concession) -> None:
    search_api.fail(Fault("status", path="/search", status=503))
    assert _search(search_api, clearing)
    assert [f for _, f in _searches(search_api)] == ["status", None]


def test_search_429_honours_retry_after(search_api: FakeStacApi, clearing: Concession) -> None:
    search_api.fail(Fault("retry_after", path="/search", retry_after_s=0.8))
    assert _search(search_api, clearing)
    (t429, fault), (t_next, _) = _searches(search_api)
    print(f"\n429 Retry-After 0.8 s: next request after {t_next - t429:.2f} s")
    assert fault == "retry_after" and t_next - t429 >= 0.8


def test_retry_after_beyond_the_limit_gives_up_at_once(search_api: FakeStacApi,
                                                       clearing: Concession) -> None:
    search_api.fail(Fault("retry_after", path="/search", retry_after_s=3600))
    with pytest.raises(SourceUnavailableError, match=r"3600 s.*MONITOR_STAC_MAX_RETRY_AFTER"):
        _search(search_api, clearing)
    assert len(_searches(search_api)) == 1


def test_persistent_5xx_is_bounded(search_api: FakeStacApi, clearing: Concession) -> None:
    search_api.fail(Fault("status", path="/search", status=502, times=100))
    with pytest.raises(SourceUnavailableError, match=r"failed 3 times.*HTTP 502.*retry later"):
        _search(search_api, clearing)
    assert len(_searches(search_api)) == 3  # retries=2


def test_permanent_4xx_is_not_retried(search_api: FakeStacApi, clearing: Concession) -> None:
    search_api.fail(Fault("status", path="/search", status=400, times=100))
    with pytest.raises(SourceError, match="HTTP 400") as info:
        _search(search_api, clearing)
    assert not isinstance(info.value, SourceUnavailableError)
    assert len(_searches(search_api)) == 1


def test_401_is_an_auth_error(search_api: FakeStacApi, clearing: Concession) -> None:
    search_api.fail(Fault("unauthorized", path="/search", times=100))
    with pytest.raises(SourceAuthError, match="HTTP 401") as info:
        _search(search_api, clearing)
    assert "Invalid client credentials" not in str(info.value)  # server text never echoed
    assert len(_searches(search_api)) == 1


def test_search_stall_times_out_in_bounded_time(search_api: FakeStacApi,
                                                clearing: Concession) -> None:
    search_api.fail(Fault("stall", path="/search", times=100, stall_s=4))
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError, match="retry later"):
        _search(search_api, clearing, "timeout=0.5&retries=1&backoff=0.1")
    elapsed = time.monotonic() - started
    print(f"\nstalled API (timeout 0.5 s, 1 retry): SourceUnavailableError after "
          f"{elapsed:.1f} s")
    assert 1.0 <= elapsed < 4
    assert len(_searches(search_api)) == 2


def test_api_down_makes_check_raise(portfolio: Portfolio) -> None:
    fake = FakeStacApi(portfolio.scenes_dir).start()
    url = fake.url
    fake.stop()
    with pytest.raises(SourceUnavailableError):
        _check(portfolio, f"stac:{url}#{FAST}")


def _cube_error(fake: FakeStacApi, clearing: Concession, fault: Fault) -> SourceError:
    fake.fail(fault)
    with pytest.raises(SourceError) as info:
        _cube(f"stac:{fake.url}#{FAST}", clearing, "2022-06-01", "2022-06-20")
    return info.value


def test_truncated_cog_is_a_typed_error(fresh_api: FakeStacApi, clearing: Concession) -> None:
    error = _cube_error(fresh_api, clearing,
                        Fault("truncate", path="/data/", method="GET", times=10_000))
    print(f"\ntruncated COG: {type(error).__name__}: {error}")
    assert isinstance(error, SourceUnavailableError)
    assert "http://127.0.0.1" in str(error) and ".tif" in str(error)


def test_stalled_cog_host_fails_in_bounded_time(fresh_api: FakeStacApi,
                                                clearing: Concession) -> None:
    started = time.monotonic()
    error = _cube_error(fresh_api, clearing, Fault("stall", path="/data/", times=10_000,
                                                   stall_s=30))
    elapsed = time.monotonic() - started
    print(f"\nstalled COG host: {type(error).__name__} after {elapsed:.1f} s")
    assert isinstance(error, SourceUnavailableError) and "timed out" in str(error)
    assert elapsed < 10


def test_one_cog_500_is_retried_by_gdal(fresh_api: FakeStacApi, portfolio: Portfolio,
                                        clearing: Concession) -> None:
    fresh_api.fail(Fault("status", path="/data/", status=503, times=1))
    stac = _cube(f"stac:{fresh_api.url}#{FAST}", clearing, "2022-06-01", "2022-06-20")
    local = _cube(f"local:{portfolio.scenes_dir}", clearing, "2022-06-01", "2022-06-20")
    assert _same(stac["red"], local["red"]) == (0.0, 1.0)
    assert any(r.fault == "status" for r in fresh_api.requests)


def test_cog_outage_gives_no_verdict(fresh_api: FakeStacApi, portfolio: Portfolio) -> None:
    fresh_api.fail(Fault("status", path="/data/", status=503, times=100_000))
    args = ["check", "demo-clearing", "--aoi", str(portfolio.registry_path), "--source",
            f"stac:{fresh_api.url}#{FAST}", "--before", "2022-06-01", "--after", "2022-06-20"]
    with pytest.raises(SourceUnavailableError, match="503"):
        _check(portfolio, args[5], before="2022-06-01", after="2022-06-20")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 6, result.output  # EXIT_UNAVAILABLE: no verdict
    assert "compliant" not in result.output and "SourceUnavailable" not in result.output
    assert "retry later" in result.output


# --- configuration -------------------------------------------------------------------------
def test_spec_options_env_and_flavours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_STAC_MAX_CLOUD", "40")
    monkeypatch.setenv("MONITOR_STAC_TIMEOUT", "7")
    src = StacApiSource.from_spec("earth-search#max_cloud=20&collection=sentinel-2-c1-l2a")
    assert src.url == "https://earth-search.aws.element84.com/v1"
    assert src.flavour == "earth-search"
    assert (src.settings.max_cloud, src.settings.timeout_s) == (20.0, 7.0)
    assert src.name == ("stac:https://earth-search.aws.element84.com/v1"
                        "#collection=sentinel-2-c1-l2a&max_cloud=20")
    monkeypatch.setenv("PC_SDK_SUBSCRIPTION_KEY", "CANARY-KEY")
    pc = StacApiSource.from_spec("https://planetarycomputer.microsoft.com/api/stac/v1")
    assert pc.flavour == "planetary-computer" and pc._signer is not None
    assert "CANARY" not in repr(pc._signer) + repr(pc) + pc.name
    assert "key set" in repr(pc._signer)
    assert StacApiSource.from_spec("http://127.0.0.1:9/api").flavour == "generic"
    assert parse_spec("http://user:pw@127.0.0.1:9/x?key=s#flavour=generic").options == {
        "flavour": "generic"}
    for bad, match in [("earth-search#max_cloud=150", "percentage"),
                       ("earth-search#colour=red", "unknown STAC source option"),
                       ("ftp://x/y", "http"), ("earth-search#flavour=nasa", "flavour")]:
        with pytest.raises(SourceError, match=match):
            StacApiSource.from_spec(bad)
    monkeypatch.setenv("MONITOR_STAC_RETRIES", "-1")
    with pytest.raises(SourceError, match="MONITOR_STAC_RETRIES"):
        StacSettings.from_env()


def test_redaction_and_retry_after_parsing() -> None:
    url = "https://acct.blob.core.windows.net/c/a.tif?st=1&se=2&sp=rl&sig=SECRET"
    assert "SECRET" not in redact(f"'/vsicurl/{url}' failed") and "a.tif" in redact(url)
    assert "pw" not in redact("http://user:pw@host/x")
    assert parse_retry_after("2") == 2.0 and parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert RetryPolicy(3, 0.5, 10).wait_s(3, None, "x") == 2.0

"""The HTML report: self-contained, escaped, and rendered by headless Chromium (not blank).

Chromium is Debian's ``chromium`` package, installed by the project's set-up. Without it
the browser tests are skipped, unless ``CI`` is set: then they fail.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import monitor
from monitor.checking import CheckResult
from monitor.evidence.figures import Figure, make_figures
from monitor.evidence.report import VERIFY_COMMANDS, render_report
from monitor.simulate import Portfolio
from tests.conftest import require

CHROMIUM = Path("/usr/bin/chromium")
CONTEXT = {"package_id": "demo-clearing-20220101-20221201",
           "fingerprint": "ed25519:4f1c0e9a7b3d2c18e6f5a4b3c2d1e0f9"
                          "a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3",
           "generated_by": "Concession Monitor 0.1.0"}
VIOLATION_BG = np.array([0xFD, 0xEC, 0xEA])  # the verdict box of a violation


@pytest.fixture(scope="module")
def clearing(demo_portfolio: Portfolio) -> CheckResult:
    return monitor.check("demo-clearing", aoi=demo_portfolio.registry_path,
                         source=f"local:{demo_portfolio.scenes_dir}", start="2022-01-01",
                         end="2022-12-01")


@pytest.fixture(scope="module")
def report(clearing: CheckResult,
           tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[Figure]]:
    data = tmp_path_factory.mktemp("package") / "data"
    figures = make_figures(clearing, data / "figures", data / "stats")
    html = render_report(clearing, figures, {**CONTEXT, "report_dir": data})
    path = data / "report.html"
    path.write_text(html, encoding="utf-8")
    return path, html, figures


@pytest.fixture(scope="module")
def chromium() -> Path:
    require(CHROMIUM.is_file(), f"{CHROMIUM} (Debian's chromium package: make browser)")
    return CHROMIUM


def _screenshot(browser: Path, html: Path, out: Path, width: int, height: int) -> np.ndarray:
    profile = out.parent / f"profile-{width}"
    command = [str(browser), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--hide-scrollbars",
               f"--user-data-dir={profile}", f"--window-size={width},{height}",
               f"--screenshot={out}", html.as_uri()]
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False,
                          env=env)
    assert done.returncode == 0 and out.is_file(), done.stderr[-2000:]
    with Image.open(out) as im:
        assert im.size == (width, height)
        return np.asarray(im.convert("RGB"))


def _assert_readable(rgb: np.ndarray) -> None:
    assert float(rgb.std()) > 25.0, "the screenshot is blank"
    q = rgb.reshape(-1, 3).astype(np.int32) // 8
    assert len(np.unique(q[:, 0] * 1024 + q[:, 1] * 32 + q[:, 2])) > 100
    assert (rgb.min(axis=2) < 128).mean() > 0.01, "no dark text on the page"
    # the verdict box sits near the top, in the violation colour
    top = rgb[:900].reshape(-1, 3).astype(int)
    assert (np.abs(top - VIOLATION_BG).max(axis=1) <= 2).mean() > 0.01


@pytest.mark.parametrize("width,height", [(1280, 2000), (375, 2000)], ids=["desktop", "phone"])
def test_chromium_renders_the_report(chromium: Path, report: tuple[Path, str, list[Figure]],
                                     tmp_path: Path, width: int, height: int) -> None:
    rgb = _screenshot(chromium, report[0], tmp_path / f"report-{width}.png", width, height)
    _assert_readable(rgb)


def test_report_is_self_contained(report: tuple[Path, str, list[Figure]]) -> None:
    _, html, figures = report
    external = re.findall(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:|//)""", html, re.I)
    assert not external
    assert "<script" not in html.lower() and "@import" not in html
    assert not re.search(r"url\(\s*['\"]?(?:https?:|//)", html)
    assert html.count('src="data:image/png;base64,') == len(figures)
    for fig in figures:
        assert f'href="stats/{fig.csv.name}"' in html


def test_report_says_what_where_when_how_sure_and_how_to_verify(
        clearing: CheckResult, report: tuple[Path, str, list[Figure]]) -> None:
    _, html, _ = report
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert re.search(r"Violation: 4\.\d\d ha of vegetation cleared inside exclusion zone "
                     r"app-nascente-1 between \d+ \w+ and \d+ Sep 2022 \(confirmed, high "
                     r"confidence\)", text)
    assert clearing.standard in text and clearing.standard_digest in text
    for command in VERIFY_COMMANDS:
        assert command in text
    assert CONTEXT["fingerprint"] in text and CONTEXT["package_id"] in text
    for heading in ("What was found", "Every check made", "What the data could not see",
                    "How to verify this", "Where the data came from"):
        assert f">{heading}</h2>" in html
    assert text.count("Compliant") >= 2  # compliant findings are listed too
    for scene in clearing.skipped_scenes:
        assert scene["scene_id"] in text
    assert '<html lang="en">' in html and '<meta name="viewport"' in html
    assert "@media print" in html and "@media (max-width" in html


def test_report_escapes_and_handles_missing_context(
        clearing: CheckResult, report: tuple[Path, str, list[Figure]]) -> None:
    figures = report[2]
    html = render_report(clearing, figures, {"package_id": "<script>alert(1)</script>"})
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "This package is not signed" in html
    bare = render_report(clearing, [], {})
    assert "Violation" in bare and "monitor verify PACKAGE --reproduce" in bare

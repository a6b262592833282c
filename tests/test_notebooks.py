"""The notebooks: stored as readable jupytext, and run top to bottom on the demo job.

Each notebook is executed in a real Jupyter kernel (ipykernel through nbclient) on the
session's demo job (no credentials, no network); a cell that raises fails the test
(``CellExecutionError``). A probe
cell appended at the end prints what the notebook concluded as JSON, so the tests check
the numbers, not only that nothing raised.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.conftest import DemoJob

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["01_reproduce_a_finding", "02_explore_a_concession", "03_portfolio_overview"]
MARK = "PROBE-JSON:"


def execute(name: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
            probe: str | None = None) -> nbformat.NotebookNode:
    """Run notebook ``name`` in a fresh kernel with ``env``; optionally append a probe cell
    printing ``json.dumps(<probe>)``."""
    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    if probe is not None:
        nb.cells.append(nbformat.v4.new_code_cell(
            f"import json as _json\nprint({MARK!r} + _json.dumps({probe}, default=str))"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # the kernel inherits the environment
    NotebookClient(nb, timeout=240, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return nb


def probed(nb: nbformat.NotebookNode) -> dict[str, Any]:
    for out in nb.cells[-1].get("outputs", []):
        if out.get("output_type") == "stream" and MARK in out.get("text", ""):
            text = out["text"]
            return json.loads(text[text.index(MARK) + len(MARK):])  # type: ignore[no-any-return]
    raise AssertionError("the probe cell printed nothing")


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_are_stored_as_canonical_percent_scripts(name: str) -> None:
    path = NOTEBOOKS / f"{name}.py"
    nb = jupytext.read(path)
    assert jupytext.writes(nb, fmt="py:percent") == path.read_text(encoding="utf-8")
    kinds = [c.cell_type for c in nb.cells]
    assert kinds[0] == "markdown" and kinds.count("markdown") >= 4 and "code" in kinds
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")


def test_reproduce_a_finding_verifies_reruns_and_recomputes_by_hand(
        demo_job: DemoJob, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = execute("01_reproduce_a_finding", {"MONITOR_DEMO_DIR": str(demo_job.out)}, monkeypatch,
                 "dict(package=str(PACKAGE), indicator=finding['indicator'], "
                 "severity=finding['severity'], value=finding['value'], report=report.ok, "
                 "rerun=again.ok, by_hand_ha=by_hand_ha, ndvi_diff=ndvi_diff, px_diff=px_diff,"
                 " n_scenes=len(by_hand), n_inputs=len(provenance['inputs']), "
                 "steps=verdict.result.tolist(), rerun_rows=len(again.table()))")
    got = probed(nb)
    assert got["indicator"] == "vegetation_loss" and got["severity"] == "violation"
    assert Path(got["package"]).parent == demo_job.out / "run" / "packages"
    assert got["report"] and got["rerun"] and got["rerun_rows"] >= 1
    assert abs(got["by_hand_ha"] - got["value"]) <= 0.01 and got["value"] > 0.5
    assert got["n_scenes"] == got["n_inputs"] >= 20
    assert got["px_diff"] == 0 and got["ndvi_diff"] < 1e-4
    assert got["steps"] == [True, True, True, True]
    text = "".join(out.get("text", "") for cell in nb.cells for out in cell.get("outputs", []))
    assert "VERIFIED" in text and "REPRODUCED" in text and "NOT REPRODUCED" not in text


def test_reproduce_a_finding_stops_on_a_tampered_package(
        demo_job: DemoJob, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    packages = demo_job.out / "run" / "packages"
    original = next(p for p in sorted(packages.iterdir()) if json.loads(
        (p / "data" / "summary.json").read_text())["scope"]["kind"] == "alert")
    copy = shutil.copytree(original, tmp_path / original.name)
    findings = copy / "data" / "stats" / "findings.csv"
    findings.write_text(findings.read_text().replace("violation", "warning", 1))
    with pytest.raises(CellExecutionError, match="failed verification") as caught:
        execute("01_reproduce_a_finding", {"MONITOR_DEMO_DIR": str(demo_job.out),
                                           "MONITOR_PACKAGE": str(copy)}, monkeypatch)
    assert "do not trust its numbers" in str(caught.value)


def test_explore_a_concession_changes_the_verdict_with_the_limit(
        demo_job: DemoJob, monkeypatch: pytest.MonkeyPatch) -> None:
    got = probed(execute(
        "02_explore_a_concession", {"MONITOR_DEMO_DIR": str(demo_job.out)}, monkeypatch,
        "dict(limits=LIMITS, current=current, sweep=sweep.to_dict('records'), "
        "compare=compare.to_dict('records'), side=side.to_dict('records'), "
        "n_dates=len(dates), findings=findings[['indicator', 'outcome']].to_dict('records'))"))
    assert got["current"] == {"turbidity.limits.downstream_minus_upstream_fnu": 10.0,
                              "turbidity.limits.baseline_factor": 1.5}
    assert got["n_dates"] > 20
    assert {"indicator": "turbidity", "outcome": "exceedance"} in got["findings"]
    sweep = {row["factor"]: row for row in got["sweep"]}
    assert sorted(sweep) == [1, 1.5, 2, 3, 5]
    assert sweep[1]["downstream_minus_upstream_fnu"] == 10.0
    # the verdict depends on the limits: the run's violation at x1, compliant at x5
    assert (sweep[1]["outcome"], sweep[1]["severity"]) == ("exceedance", "violation")
    assert sweep[5]["outcome"] == "compliant"
    ring = {r["version"]: r for r in got["compare"] if r["zone_id"] == "buffer_ring"}
    assert ring["1.0"]["limit"] == 0.5 and ring["1.1"]["limit"] == 0.25
    loss = {(r["zone_id"], r["rule"]): r["loss_ha"] for r in got["side"]}
    for (zone, rule), value in loss.items():
        if "stricter" in rule:  # a larger drop required never finds more loss
            assert value <= loss[(zone, "min_drop 0.15 (standard)")] + 1e-9


def test_portfolio_overview_shows_the_run_that_read_imagery(
        demo_job: DemoJob, monkeypatch: pytest.MonkeyPatch) -> None:
    got = probed(execute(
        "03_portfolio_overview", {"MONITOR_DEMO_DIR": str(demo_job.out)}, monkeypatch,
        "dict(run=chosen.run_id, status=rows['status'].to_dict(), alerts=len(alerts), "
        "counts=counts.sum().to_dict(), availability=sorted(availability), n_runs=len(runs))"))
    # the latest run found nothing new: the overview shows the one before it
    assert got["n_runs"] == 2 and got["run"] == demo_job.first["run_id"]
    assert got["status"]["demo-compliant"] == "compliant"
    assert got["status"]["demo-clearing"] == "violation"
    assert got["availability"] == sorted(got["status"])
    new = demo_job.first["alerts"]["new"]
    assert got["counts"] == {s: new[s] for s in ("violation", "warning", "notice")}
    assert got["alerts"] == sum(new.values())

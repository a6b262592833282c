"""Standards: strict YAML, helpful errors, SCIENCE.md defaults, versions in force."""

from __future__ import annotations

import contextlib
import dataclasses
import re
from datetime import date, datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from monitor.config import (
    Standard,
    StandardSet,
    StrictLoader,
    default_standard_path,
    load_standard,
    load_standards,
    parse_standard,
    read_yaml,
)
from monitor.errors import ConfigError
from monitor.indicators.base import TailingsParams, VegetationParams, WaterParams

STANDARDS = Path(__file__).resolve().parents[1] / "configs" / "standards"
DEFAULT = STANDARDS / "default.yaml"
TEXT = DEFAULT.read_text(encoding="utf-8")


def edit(old: str, new: str, text: str = TEXT) -> str:
    """Replace one exact piece of the default standard (which must be there)."""
    assert text.count(old) == 1, old
    return text.replace(old, new)


def line_of(text: str, fragment: str, nth: int = 1) -> int:
    """1-based line of the nth line containing ``fragment``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if fragment in line]
    return hits[nth - 1]


def error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_standard(text, "std.yaml")
    return str(info.value)


# ------------------------------------------------------------------- default standard


def test_default_path_points_at_the_shipped_file() -> None:
    assert default_standard_path() == DEFAULT.resolve()


def test_default_standard_loads_with_science_defaults() -> None:
    std = load_standard(default_standard_path())
    assert (std.id, std.version, std.effective_date) == ("default", "1.0", date(2020, 1, 1))
    assert std.ref == "default@1.0" and std.supersedes is None
    assert std.source == str(default_standard_path())
    # every method parameter equals the dataclass default (= SCIENCE.md)
    assert std.vegetation_params() == VegetationParams()
    assert std.water_params() == WaterParams()
    assert std.tailings_params() == TailingsParams()
    # and the file spells each of them out (no silent fall-back on code defaults)
    raw = yaml.safe_load(TEXT)
    assert set(raw["vegetation_loss"]["parameters"]) == {
        f.name for f in dataclasses.fields(VegetationParams)}
    assert set(raw["turbidity"]["parameters"]) | {"baseline_factor"} == {
        f.name for f in dataclasses.fields(WaterParams)}
    assert set(raw["tailings"]["parameters"]) == {
        f.name for f in dataclasses.fields(TailingsParams)}


def test_science_values_spelled_out() -> None:
    veg = load_standard(DEFAULT).vegetation_params()
    # SCIENCE.md section 5: 24 months, +/-30 days, z <= -3, drop >= 0.15, centre >= 0.4,
    # k = 2 in 90 days, dNDVI <= -0.3, 0.5 ha MMU, dNBR >= 0.27
    assert (veg.baseline_days, veg.doy_window_days, veg.z_threshold, veg.min_drop) == (
        730, 30, -3.0, 0.15)
    assert (veg.vegetated_centre, veg.confirm_k, veg.confirm_window_days) == (0.4, 2, 90)
    assert (veg.two_date_dndvi, veg.mmu_ha, veg.burn_dnbr) == (-0.3, 0.5, 0.27)
    water = load_standard(DEFAULT).water_params()
    assert (water.persistent_fraction, water.min_water_px, water.baseline_quantile,
            water.baseline_factor, water.confirm_k) == (0.8, 20, 0.9, 1.5, 2)
    tail = load_standard(DEFAULT).tailings_params()
    assert (tail.water_mndwi, tail.vegetation_ndvi, tail.bare_ndvi, tail.bare_bsi) == (
        0.0, 0.4, 0.2, 0.0)


def test_default_limits_and_ladder() -> None:
    std = load_standard(DEFAULT)
    limits = std.vegetation_loss.limits
    assert [limits.for_zone(z) for z in ("permitted_footprint", "licence_outside_footprint",
                                         "buffer_ring", "exclusion_zone")] == [
        None, 0.5, 0.5, 0.0]
    assert std.turbidity.limits.downstream_minus_upstream_fnu == 10.0
    assert std.tailings.limits.growth_outside_footprint_ha == 0.5
    assert std.tailings.limits.facility_growth_fraction == 0.2
    ladder = std.severity
    assert (ladder.violation_multiple, ladder.exclusion_zone_is_violation,
            ladder.repeated_periods) == (2.0, True, 2)
    assert (std.buffer_m, std.min_clear_obs) == (500.0, 2)
    with pytest.raises(KeyError):
        limits.for_zone("water_reach")


def test_every_default_field_is_commented() -> None:
    for n, line in enumerate(TEXT.splitlines(), 1):
        if re.match(r"^\s*[a-z_]+:\s*\S", line) and not line.strip().startswith("#"):
            assert "#" in line or line.strip().startswith(("title:", "description:")), (
                f"default.yaml line {n} has no comment: {line}")


def test_revision_changes_only_the_buffer_limit() -> None:
    old, new = load_standard(DEFAULT), load_standard(STANDARDS / "default-v1.1.yaml")
    assert (new.id, new.version, new.supersedes) == ("default", "1.1", "1.0")
    assert new.effective_date == date(2022, 7, 1)
    assert new.vegetation_loss.limits.buffer_ring == 0.25
    assert old.vegetation_loss.limits.buffer_ring == 0.5
    meta = {"version", "effective_date", "supersedes", "title", "description"}
    a, b = old.model_dump(exclude=meta), new.model_dump(exclude=meta)
    a["vegetation_loss"]["limits"].pop("buffer_ring")
    b["vegetation_loss"]["limits"].pop("buffer_ring")
    assert a == b


def test_digest_follows_content_not_layout() -> None:
    std = load_standard(DEFAULT)
    assert re.fullmatch(r"[0-9a-f]{64}", std.digest)
    assert parse_standard(TEXT).digest == std.digest
    relaid = "# another comment\n" + TEXT.replace("buffer_m: 500.0", "buffer_m: 500")
    assert parse_standard(relaid).digest == std.digest
    assert parse_standard(edit("bare_bsi: 0.0", "bare_bsi: 0.01")).digest != std.digest


def test_standard_is_frozen() -> None:
    std = load_standard(DEFAULT)
    with pytest.raises(ValidationError):
        std.buffer_m = 10.0


def test_parameters_may_be_left_to_science_defaults() -> None:
    text = re.sub(r"  parameters:\n(    .*\n)+", "", TEXT)
    assert "parameters" not in text
    std = parse_standard(text)
    assert std.vegetation_params() == VegetationParams()
    assert std.water_params() == WaterParams()


# --------------------------------------------------------------------- strict loading


def test_duplicate_key_names_both_lines_and_path() -> None:
    text = edit("    buffer_ring: 0.5 ", "    buffer_ring: 0.25\n    buffer_ring: 0.5 ")
    msg = error(text)
    first, second = line_of(text, "buffer_ring:", 1), line_of(text, "buffer_ring:", 2)
    assert "std.yaml" in msg and "duplicate key 'buffer_ring'" in msg
    assert f"line {second}, column 5" in msg and f"first is at line {first}" in msg
    assert "vegetation_loss.limits" in msg


def test_duplicate_top_level_key() -> None:
    msg = error(TEXT + "\nbuffer_m: 5000\n")
    assert "duplicate key 'buffer_m'" in msg and "(top level)" in msg


def test_strict_loader_rejects_duplicates_when_used_directly() -> None:
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key 'a'"):
        yaml.load("a: 0.25\na: 2.5\n", Loader=StrictLoader)
    assert yaml.load("a: 0.25\n", Loader=StrictLoader) == {"a": 0.25}


def test_unknown_field_suggests_the_closest() -> None:
    text = edit("    z_threshold: -3.0 ", "    treshold: -3.0 ")
    msg = error(text)
    line = line_of(text, "treshold")
    assert (f"unknown field 'treshold' at vegetation_loss.parameters.treshold (line {line}); "
            "did you mean 'z_threshold'?") in msg


def test_misplaced_field_says_where_it_belongs() -> None:
    anchor = "    baseline_quantile: 0.9 "
    msg = error(edit(anchor, "    buffer_ring: 0.5\n" + anchor))
    assert "it belongs at vegetation_loss.limits.buffer_ring" in msg
    msg = error(edit(anchor, "    baseline_factor: 2\n" + anchor))
    assert "it is a limit: set turbidity.limits.baseline_factor" in msg


def test_wrong_types_are_refused_with_line_and_value() -> None:
    text = edit("buffer_m: 500.0", "buffer_m: wide")
    msg = error(text)
    assert f"buffer_m (line {line_of(text, 'buffer_m: wide')})" in msg and "'wide'" in msg
    msg = error(edit("confirm_k: 2                 # confirmed after", "confirm_k: 2.5  # c"))
    assert "vegetation_loss.parameters.confirm_k" in msg and "integer" in msg
    msg = error(edit("exclusion_zone_is_violation: true", "exclusion_zone_is_violation: 'true'"))
    assert "severity.exclusion_zone_is_violation" in msg and "boolean" in msg
    msg = error(edit("buffer_m: 500.0", "buffer_m: 1e3"))
    assert "YAML 1.1 reads 1e3 as text" in msg
    msg = error(edit("  exclusion_zone: 0.0 ", "  exclusion_zone: -1.0 "))
    assert "vegetation_loss.limits.exclusion_zone" in msg and "greater than or equal to 0" in msg
    msg = error(edit("severity:       ", "severity: 3\nold_severity:  "))
    assert "severity (line" in msg and "must be a mapping" in msg
    assert "finite" in error(edit("min_drop: 0.15", "min_drop: .nan"))


def test_missing_required_fields() -> None:
    text = edit("    buffer_ring: 0.5             # outside the licence, within buffer_m of it\n",
                "")
    msg = error(text)
    assert "missing field 'buffer_ring' at vegetation_loss.limits.buffer_ring" in msg
    assert f"(section at line {line_of(text, '  limits:')})" in msg and "null means no limit" in msg
    msg = error(re.sub(r"severity: .*\n(  .*\n)+", "", TEXT))
    assert "missing field 'severity' at severity (section at line 1)" in msg


def test_several_problems_reported_at_once_in_line_order() -> None:
    text = edit("buffer_m: 500.0", "buffer_m: wide")
    text = edit("    z_threshold: -3.0 ", "    treshold: -3.0 ", text)
    msg = error(text)
    assert msg.startswith("std.yaml: 2 problems")
    assert msg.index("buffer_m") < msg.index("treshold")


@pytest.mark.parametrize(("old", "new", "expect"), [
    ('version: "1.0"', "version: 1.10", 'write the version as quoted text, e.g. "1.1"'),
    ('version: "1.0"', 'version: "v1"', "is not a version like"),
    ("supersedes: null", 'supersedes: "1.0"', "must be an earlier version"),
    ("effective_date: 2020-01-01", "effective_date: 2020-13-01", "line 16, column 17"),
    ("effective_date: 2020-01-01", "effective_date: '2020-02-30'", "is not an ISO date"),
    ("effective_date: 2020-01-01", "effective_date: 2020-01-01 10:00:00", "without a time"),
    ("id: default", "id: Mi Estándar", "use e.g. 'mi-estandar'"),
    ("turbidity_index: turbidity_nechad2016_b04", "turbidity_index: ndti",
     "is not a turbidity algorithm"),
    ("bare_ndvi: 0.2", "bare_ndvi: 0.5", "the classes would overlap"),
    ("repeated_periods: 2", "repeated_periods: 1", "greater than or equal to 2"),
    ("violation_multiple: 2.0", "violation_multiple: 1.0", "greater than 1"),
])
def test_bad_values(old: str, new: str, expect: str) -> None:
    assert expect in error(edit(old, new))


def test_quoted_iso_date_is_accepted() -> None:
    std = parse_standard(edit("effective_date: 2020-01-01", "effective_date: '2020-01-01'"))
    assert std.effective_date == date(2020, 1, 1)


@pytest.mark.parametrize(("text", "expect"), [
    ("", "the file is empty"),
    ("- a\n- b\n", "must be a mapping"),
    ("a: [1\n", "line 2"),
    ("a: &x 1\nb: *x\n", "aliases"),
    ("a: {<<: {b: 1}}\n", "merge key"),
    ("yes: 1\n", "key 'yes' read by YAML as bool"),
    ("1: 1\n", "read by YAML as int"),
    ("? [a, b]\n: 1\n", "read by YAML as seq"),
    ("!!python/object:os.system {}\n", "could not determine a constructor"),
    ("a: 1\n---\nb: 2\n", "another document"),
    ("a: \x00\n", "not valid YAML"),
])
def test_malformed_yaml(text: str, expect: str) -> None:
    assert expect in error(text)


def test_read_yaml_maps_paths_to_lines() -> None:
    data, lines = read_yaml("a: 1\nb:\n  c: 2\n  d: [3, 4]\n")
    assert data == {"a": 1, "b": {"c": 2, "d": [3, 4]}}
    assert lines[()] == 1 and lines[("a",)] == 1 and lines[("b", "c")] == 3
    assert lines[("b", "d")] == 4


def test_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_standard(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a folder"):
        load_standard(tmp_path)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("title: Est\xe1ndar\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_standard(latin)
    big = tmp_path / "big.yaml"
    big.write_text("# x\n" * 300_000)
    with pytest.raises(ConfigError, match="too large"):
        load_standard(big)
    bad = tmp_path / "bad.yaml"
    bad.write_text(edit("buffer_m: 500.0", "buffer_m: wide"))
    with pytest.raises(ConfigError, match=re.escape(str(bad))):
        load_standard(bad)


# ----------------------------------------------------------------------------- versions


def test_version_in_force_by_date() -> None:
    standards = load_standards(STANDARDS)
    assert [s.ref for s in standards] == ["default@1.0", "default@1.1"]
    assert standards.ids == ["default"] and len(standards) == 2
    assert standards.in_force("default", date(2020, 1, 1)).version == "1.0"
    assert standards.in_force("default", date(2022, 6, 30)).version == "1.0"
    assert standards.in_force("default", date(2022, 7, 1)).version == "1.1"
    assert standards.in_force("default", datetime(2030, 1, 1, 12)).version == "1.1"
    with pytest.raises(ConfigError, match=r"no version of standard 'default' is in force on "
                       r"2019-12-31: the earliest loaded, 1\.0 .* takes effect on 2020-01-01"):
        standards.in_force("default", date(2019, 12, 31))
    with pytest.raises(ConfigError, match="standard 'strict' is not loaded"):
        standards.in_force("strict", date(2021, 1, 1))
    assert standards.get("default", "1").version == "1.0"
    with pytest.raises(ConfigError, match=r"has no version '2\.0'; loaded versions: 1\.0, 1\.1"):
        standards.get("default", "2.0")


def test_load_standards_takes_files_folders_and_mixes(tmp_path: Path) -> None:
    assert len(load_standards(DEFAULT)) == 1
    assert len(load_standards(str(DEFAULT))) == 1
    assert len(load_standards([STANDARDS, DEFAULT])) == 2  # the same file counts once
    with pytest.raises(ConfigError, match="holds no standard"):
        load_standards(tmp_path)
    (tmp_path / "a.yaml").write_text("a: 1\n")
    (tmp_path / "b.yml").write_text(edit("buffer_m: 500.0", "buffer_m: wide"))
    with pytest.raises(ConfigError) as info:
        load_standards(tmp_path)
    assert "a.yaml" in str(info.value) and "b.yml" in str(info.value)  # all files reported


def _variant(version: str, effective: str, supersedes: str = "null") -> Standard:
    text = edit('version: "1.0"', f'version: "{version}"')
    text = edit("effective_date: 2020-01-01", f"effective_date: {effective}", text)
    return parse_standard(edit("supersedes: null", f"supersedes: {supersedes}", text),
                          f"v{version}.yaml")


@pytest.mark.parametrize(("versions", "expect"), [
    ([("1.0", "2020-01-01"), ("1.0", "2021-01-01")], "is not a higher version"),
    ([("1.0", "2020-01-01"), ("1.1", "2020-01-01")], "both take effect on 2020-01-01"),
    ([("1.0", "2021-01-01"), ("1.1", "2020-01-01")], "is not a higher version"),
])
def test_contradictory_versions(versions: list[tuple[str, str]], expect: str) -> None:
    with pytest.raises(ConfigError, match=expect):
        StandardSet(tuple(_variant(v, d) for v, d in versions))


def test_versions_sort_numerically() -> None:
    standards = StandardSet((_variant("1.10", "2023-01-01", '"1.9"'),
                             _variant("1.9", "2022-01-01")))
    assert [s.version for s in standards] == ["1.9", "1.10"]


# ----------------------------------------------------------------------- bad inputs

_FIELDS = ["id", "version", "effective_date", "buffer_m", "min_clear_obs", "vegetation_loss",
           "turbidity", "tailings", "severity", "limits", "parameters", "buffer_ring",
           "confirm_k", "supersedes", "<<", "yes", "1"]
_SCALARS = (st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats()
            | st.text(max_size=12) | st.dates() | st.sampled_from(["1.0", "default", "nan"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.sampled_from(_FIELDS) | st.text(max_size=8),
                                         inner, max_size=4), max_leaves=20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_FIELDS) | st.text(max_size=8), _VALUES, max_size=8))
def test_random_mappings_only_raise_config_error(data: dict[str, object]) -> None:
    text = yaml.safe_dump(data, allow_unicode=True)
    try:
        parse_standard(text, "random.yaml")
    except ConfigError as exc:
        assert str(exc).startswith("random.yaml")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_random_text_only_raises_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        parse_standard(text, "random.yaml")


@settings(max_examples=150, deadline=None)
@given(st.integers(0, TEXT.count("\n") - 1), st.text(max_size=20), st.booleans())
def test_mutated_default_only_raises_config_error(line: int, junk: str, replace: bool) -> None:
    lines = TEXT.splitlines()
    if replace:
        key, sep, _ = lines[line].partition(":")
        lines[line] = f"{key}{sep} {junk}" if sep else junk
    else:
        lines.insert(line, junk)
    try:
        std = parse_standard("\n".join(lines), "mutated.yaml")
    except ConfigError:
        return
    assert isinstance(std, Standard)

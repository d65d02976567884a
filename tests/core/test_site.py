"""The site model: the demo mall is valid and realistic; broken files name file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from mallsense.site import ZoneKind, default_site_path, load_site
from mallsense.yamlconf import ConfigError


@pytest.fixture(scope="module")
def demo():
    return load_site()


def test_demo_mall_is_realistic(demo):
    assert len(demo.floors) == 3
    assert 50 <= len(demo.stores) <= 70
    assert len(demo.entrances) == 6
    assert any(s.anchor for s in demo.stores)
    assert {z.kind for z in demo.zones} >= {ZoneKind.ENTRANCE, ZoneKind.CORRIDOR, ZoneKind.STORE, ZoneKind.ATRIUM}
    kinds = {s.kind for s in demo.sensors}
    assert kinds == {"camera", "wifi", "ble"}
    assert demo.beacons and demo.campaigns
    # every entrance line is counted by exactly one camera
    for entrance in demo.entrances:
        assert sum(entrance.id in s.lines for s in demo.sensors) == 1
    # store areas match their zone polygons
    for store in demo.stores:
        assert store.area_m2 == pytest.approx(demo.zone_by_id[store.zone].area_m2)


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = default_site_path().read_text()
    assert old in text
    path = tmp_path / "broken.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_field_error_names_file_line_and_field(tmp_path):
    path = _broken(tmp_path, "area_m2: 480.0", "area_m2: -3")
    with pytest.raises(ConfigError) as err:
        load_site(path)
    line = _line_of(path, "area_m2: -3")
    message = str(err.value)
    assert f"{path}:{line}: stores[" in message
    assert ".area_m2: Input should be greater than 0" in message


def test_reference_error_names_the_offending_field(tmp_path):
    path = _broken(tmp_path, "zone: f1-01-shop", "zone: nowhere")
    with pytest.raises(ConfigError) as err:
        load_site(path)
    assert f"{path}:{_line_of(path, 'zone: nowhere')}:" in str(err.value)
    assert "unknown zone 'nowhere'" in str(err.value)


def test_unknown_field_is_refused(tmp_path):
    path = _broken(tmp_path, "catchment_population:", "catchment_populaton:")
    with pytest.raises(ConfigError) as err:
        load_site(path)
    assert "site.catchment_populaton: Extra inputs are not permitted" in str(err.value)


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("site:\n  id: x\n  name: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        load_site(path)
    assert str(path) in str(err.value) and "not valid YAML" in str(err.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_site(tmp_path / "absent.yaml")

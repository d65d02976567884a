"""Where a camera's site lines and zones are in its image: from the config's pixels or through the homography.

Each line a sensor counts (``lines`` in the site file: entrance or store ids) needs pixel coordinates. An entrance
line is projected from the floor plan through the camera's homography, with its ``inside`` point, unless the edge
config gives the line's pixels (more precise when the calibration is rough, and the only way for store doors, which
the site file does not draw). A config line that the site does not list for this sensor is an error: its crossings
would be rejected by ingest anyway.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from edge.camera.config import CameraSensorConfig
from edge.camera.homography import FloorMapper
from edge.camera.lines import CountingLine
from mallsense.site import Sensor, Site

log = logging.getLogger(__name__)


class PlacementError(ValueError):
    """A camera's lines cannot be placed in its image."""


@dataclass(frozen=True)
class Placement:
    lines: list[CountingLine]
    mapper: FloorMapper | None
    zones: dict[str, list[tuple[float, float]]]  # floor polygons of the zones it covers (needs the mapper)


def camera_sensor(site: Site, sensor_id: str) -> Sensor:
    sensor = site.sensor_by_id.get(sensor_id)
    if sensor is None or sensor.kind != "camera":
        raise PlacementError(f"{sensor_id!r} is not a camera sensor of site {site.site.id}")
    return sensor


def place(site: Site, sensor_id: str, cfg: CameraSensorConfig) -> Placement:
    sensor = camera_sensor(site, sensor_id)
    mapper = FloorMapper.from_site(sensor.homography) if sensor.homography else None
    configured = {line.id: line for line in cfg.lines}
    unknown = sorted(set(configured) - set(sensor.lines))
    if unknown:
        raise PlacementError(f"camera {sensor_id}: config lines {unknown} are not in the sensor's site lines "
                             f"{sensor.lines}")
    lines = []
    for line_id in sensor.lines:
        entrance = site.entrance_by_id.get(line_id)
        own = configured.get(line_id)
        if own is not None:
            inside = own.inside
            if inside is None and entrance is not None and mapper is not None:
                inside = mapper.to_image([entrance.inside])[0]
            if inside is None:
                raise PlacementError(f"camera {sensor_id}: line {line_id} needs an 'inside' pixel in the config "
                                     "(no homography or not an entrance)")
            lines.append(CountingLine(line_id, own.pixels[0], own.pixels[1], inside, own.margin_px))
        elif entrance is not None and mapper is not None:
            a, b, inside = mapper.to_image([*entrance.line, entrance.inside])
            lines.append(CountingLine(line_id, a, b, inside, cfg.margin_px))
        else:
            raise PlacementError(f"camera {sensor_id}: line {line_id} has no pixels in the edge config and "
                                 "cannot be projected (needs an entrance line and the sensor's homography)")
    zones = {}
    if sensor.zones and mapper is None:
        log.warning("camera %s covers zones %s but has no homography: no occupancy", sensor_id, sensor.zones)
    elif mapper is not None:
        zones = {z: list(site.zone_by_id[z].polygon) for z in sensor.zones}
    return Placement(lines, mapper, zones)

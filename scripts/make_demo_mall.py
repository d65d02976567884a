"""Generate config/demo-mall.yaml, the demo mall shipped with mallsense (run once; the YAML is committed).

Three floors of 200 m x 80 m: two rows of shops either side of a 20 m wide mall street with a central atrium.
Ground floor (f1): four street entrances. Basement (b1): supermarket, food court, two car-park entrances.
Level 2 (f2): fashion and a cinema. About 60 stores, six entrances, cameras on every door and over the malls
streets, WiFi and BLE sensors, beacons, and a campaign.

    python scripts/make_demo_mall.py > config/demo-mall.yaml
"""

from __future__ import annotations

import math
import sys

import yaml

W, H = 200.0, 80.0
ROW_S = (0.0, 30.0)  # south shop row
ROW_N = (50.0, 80.0)  # north shop row
SLOT = 16.0
WEST_SLOTS = [10 + SLOT * i for i in range(5)]  # x0 of slots 10..90
EAST_SLOTS = [110 + SLOT * i for i in range(5)]  # x0 of slots 110..190

TENANTS: dict[str, list[tuple[str, str, bool, int]]] = {
    # floor -> list of (name, category, anchor, width in slots), filling south-west, south-east, north-west, north-east
    "f1": [
        ("Lumen Beauty", "beauty", False, 1),
        ("Maison Rouge", "beauty", False, 1),
        ("Petal & Pearl", "jewelry", False, 1),
        ("Aurum Jewellers", "jewelry", False, 1),
        ("Nordic Knit", "fashion", False, 1),
        ("Harbor Coffee", "cafe", False, 1),
        ("Sonique Audio", "electronics", False, 1),
        ("Pixel Point", "electronics", False, 1),
        ("Fjord Outdoor", "sports", False, 1),
        ("Runway 9", "fashion", False, 1),
        ("Galleria Department Store", "department_store", True, 3),
        ("Scent Atelier", "beauty", False, 1),
        ("Glow Lab", "beauty", False, 1),
        ("Bean Theory", "cafe", False, 1),
        ("Circuit House", "electronics", False, 1),
        ("Urban Thread", "fashion", False, 1),
        ("Tempo Watches", "jewelry", False, 1),
        ("Velvet Shoes", "fashion", False, 1),
    ],
    "b1": [
        ("FreshMart Supermarket", "supermarket", True, 3),
        ("Casa Home", "home", False, 1),
        ("Key & Heel", "services", False, 1),
        ("Pharma Plus", "pharmacy", False, 1),
        ("Mobile Care", "services", False, 1),
        ("Tea Garden", "cafe", False, 1),
        ("Little Steps", "kids", False, 1),
        ("Toy Harbour", "kids", False, 1),
        ("Kitchen Craft", "home", False, 1),
        ("Bake House", "food", False, 1),
        ("Noodle Bar", "food", False, 1),
        ("Dumpling Co", "food", False, 1),
        ("Bao Street", "food", False, 1),
        ("Curry Leaf", "food", False, 1),
        ("Juice Lab", "food", False, 1),
        ("Sushi Go", "food", False, 1),
        ("Pizza Forno", "food", False, 1),
        ("Wok Express", "food", False, 1),
        ("Gelato Uno", "food", False, 1),
        ("Book Nook", "books", False, 1),
    ],
    "f2": [
        ("Denim Yard", "fashion", False, 1),
        ("Linen & Co", "fashion", False, 1),
        ("Stride Sports", "sports", False, 1),
        ("Peak Performance", "sports", False, 1),
        ("Mini Couture", "kids", False, 1),
        ("Kids Planet", "kids", False, 1),
        ("Game Arena", "electronics", False, 1),
        ("Opti Vision", "services", False, 1),
        ("Silk Road Tailors", "fashion", False, 1),
        ("Bloom Florist", "home", False, 1),
        ("Trend Loop", "fashion", False, 1),
        ("Paper Trail", "books", False, 1),
        ("Hot Pot House", "restaurant", False, 1),
        ("Steak & Co", "restaurant", False, 1),
        ("Star Cinema", "cinema", True, 3),
        ("Dessert Cloud", "cafe", False, 1),
        ("Sakura Grill", "restaurant", False, 1),
        ("Spa Serenity", "beauty", False, 1),
        ("Fit Studio", "sports", False, 1),
    ],
}
FLOORS = [
    ("b1", "Basement (food hall & car park)", -1),
    ("f1", "Ground floor", 0),
    ("f2", "Level 2 (fashion & cinema)", 1),
]
# Middle slots (x 90..110) of each row: entrance halls on f1, shops elsewhere.
ENTRANCES = {
    "f1": [
        (
            "e-west",
            "West entrance",
            ((0.0, 30.0), (0.0, 50.0)),
            (5.0, 40.0),
            [(0, 30), (10, 30), (10, 50), (0, 50)],
            True,
        ),
        (
            "e-east",
            "East entrance",
            ((200.0, 30.0), (200.0, 50.0)),
            (195.0, 40.0),
            [(190, 30), (200, 30), (200, 50), (190, 50)],
            True,
        ),
        (
            "e-south",
            "South main entrance",
            ((90.0, 0.0), (110.0, 0.0)),
            (100.0, 10.0),
            [(90, 0), (110, 0), (110, 30), (90, 30)],
            True,
        ),
        (
            "e-north",
            "North entrance",
            ((90.0, 80.0), (110.0, 80.0)),
            (100.0, 70.0),
            [(90, 50), (110, 50), (110, 80), (90, 80)],
            True,
        ),
    ],
    "b1": [
        (
            "e-park-west",
            "Car park west lifts",
            ((0.0, 30.0), (0.0, 50.0)),
            (5.0, 40.0),
            [(0, 30), (10, 30), (10, 50), (0, 50)],
            False,
        ),
        (
            "e-park-east",
            "Car park east lifts",
            ((200.0, 30.0), (200.0, 50.0)),
            (195.0, 40.0),
            [(190, 30), (200, 30), (200, 50), (190, 50)],
            False,
        ),
    ],
}


def rect(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def zones_by_id(zones: list[dict]) -> dict[str, dict]:
    return {z["id"]: z for z in zones}


def build() -> dict:
    floors, zones, stores, entrances, sensors, beacons = [], [], [], [], [], []
    minor = 0
    for floor_id, floor_name, level in FLOORS:
        floors.append({"id": floor_id, "name": floor_name, "level": level, "outline": rect(0, 0, W, H)})
        corridor = {"west": f"{floor_id}-mall-west", "east": f"{floor_id}-mall-east"}
        zones += [
            {
                "id": corridor["west"],
                "floor": floor_id,
                "kind": "corridor",
                "name": "West mall",
                "polygon": rect(10, 30, 90, 50),
            },
            {
                "id": f"{floor_id}-atrium",
                "floor": floor_id,
                "kind": "atrium",
                "name": "Atrium",
                "polygon": rect(90, 30, 110, 50),
            },
            {
                "id": corridor["east"],
                "floor": floor_id,
                "kind": "corridor",
                "name": "East mall",
                "polygon": rect(110, 30, 190, 50),
            },
        ]
        # slots: south-west, south-middle, south-east, north-west, north-middle, north-east
        slots: list[tuple[float, float, float, float, str]] = []
        for y0, y1 in (ROW_S, ROW_N):
            for x0 in WEST_SLOTS:
                slots.append((x0, y0, x0 + SLOT, y1, "west"))
            if floor_id != "f1":  # on f1 the middle of each row is an entrance hall
                slots.append((90.0, y0, 110.0, y1, "atrium"))
            for x0 in EAST_SLOTS:
                slots.append((x0, y0, x0 + SLOT, y1, "east"))
        tenants = TENANTS[floor_id]
        i = 0
        for n, (name, category, anchor, width) in enumerate(tenants):
            if i >= len(slots):
                raise SystemExit(f"too many tenants on {floor_id}")
            first = slots[i]
            last = slots[min(i + width - 1, len(slots) - 1)]
            i += width
            x0, y0, _, y1, _side = first
            x1 = last[2]
            sid = f"{floor_id}-{n + 1:02d}"
            zone_id = f"{sid}-shop"
            front = corridor["west"] if x1 <= 95 else (corridor["east"] if x0 >= 105 else f"{floor_id}-atrium")
            zones.append(
                {"id": zone_id, "floor": floor_id, "kind": "store", "name": name, "polygon": rect(x0, y0, x1, y1)}
            )
            stores.append(
                {
                    "id": sid,
                    "name": name,
                    "category": category,
                    "anchor": anchor,
                    "area_m2": round((x1 - x0) * (y1 - y0), 1),
                    "zone": zone_id,
                    "front_zone": front,
                }
            )
        for eid, ename, line, inside, poly, external in ENTRANCES.get(floor_id, []):
            zone_id = f"{eid}-hall"
            zones.append(
                {
                    "id": zone_id,
                    "floor": floor_id,
                    "kind": "entrance" if external else "parking",
                    "name": ename,
                    "polygon": [list(p) for p in poly],
                }
            )
            entrances.append(
                {
                    "id": eid,
                    "name": ename,
                    "floor": floor_id,
                    "zone": zone_id,
                    "line": [list(p) for p in line],
                    "inside": list(inside),
                    "external": external,
                }
            )
        # sensors: one camera per door, three overhead cameras over the mall street, WiFi and BLE scanners
        node_w, node_e = f"node-{floor_id}-w", f"node-{floor_id}-e"
        for eid, _ename, line, inside, _poly, _ext in ENTRANCES.get(floor_id, []):
            node = node_w if inside[0] <= 100 else node_e
            cx = (line[0][0] + line[1][0]) / 2
            cy = (line[0][1] + line[1][1]) / 2
            sensors.append(
                {
                    "id": f"cam-{eid}",
                    "kind": "camera",
                    "node": node,
                    "floor": floor_id,
                    "position": [cx, cy],
                    "lines": [eid],
                    "zones": [f"{eid}-hall"],
                    "homography": {
                        "image": [[0, 0], [640, 0], [640, 360], [0, 360]],
                        "floor": [[cx - 5, cy - 5], [cx + 5, cy - 5], [cx + 5, cy + 5], [cx - 5, cy + 5]],
                    },
                }
            )
        for name, x, zone in (
            ("west", 50.0, corridor["west"]),
            ("atrium", 100.0, f"{floor_id}-atrium"),
            ("east", 150.0, corridor["east"]),
        ):
            sensors.append(
                {
                    "id": f"cam-{floor_id}-{name}",
                    "kind": "camera",
                    "node": node_w if x <= 100 else node_e,
                    "floor": floor_id,
                    "position": [x, 40.0],
                    "zones": [zone],
                }
            )
        for k, x in enumerate((30.0, 80.0, 120.0, 170.0)):
            sensors.append(
                {
                    "id": f"wifi-{floor_id}-{k + 1}",
                    "kind": "wifi",
                    "node": node_w if x < 100 else node_e,
                    "floor": floor_id,
                    "position": [x, 40.0],
                    "range_m": 35.0,
                }
            )
        for k, x in enumerate((40.0, 100.0, 160.0)):
            sensors.append(
                {
                    "id": f"ble-{floor_id}-{k + 1}",
                    "kind": "ble",
                    "node": node_w if x <= 100 else node_e,
                    "floor": floor_id,
                    "position": [x, 40.0],
                    "range_m": 25.0,
                }
            )
        # store doors: an overhead counter over each shop's door (entries, exits: capture and conversion) and a BLE
        # scanner inside each shop (consented app users' store visits, dwell and co-visits)
        for store in stores:
            if not store["id"].startswith(f"{floor_id}-"):
                continue
            (x0, y0), (x1, y1) = zones_by_id(zones)[store["zone"]]["polygon"][0], \
                zones_by_id(zones)[store["zone"]]["polygon"][2]
            cx, cy = round((x0 + x1) / 2, 1), round((y0 + y1) / 2, 1)
            door_y = y1 if y1 <= 30 else y0
            node = node_w if cx <= 100 else node_e
            sensors.append({"id": f"cam-door-{store['id']}", "kind": "camera", "node": node, "floor": floor_id,
                            "position": [cx, door_y], "lines": [store["id"]]})
            reach = round(max(15.0, math.hypot(x1 - x0, y1 - y0) / 2 + 2.0), 1)  # the whole shop floor
            sensors.append({"id": f"ble-{store['id']}", "kind": "ble", "node": node, "floor": floor_id,
                            "position": [cx, cy], "range_m": reach})
        for k in range(10):
            minor += 1
            beacons.append(
                {
                    "id": f"beacon-{floor_id}-{k + 1:02d}",
                    "uuid": "e2c56db5-dffb-48d2-b060-d0f5a71096e0",
                    "major": 100 + level,
                    "minor": minor,
                    "floor": floor_id,
                    "position": [15.0 + k * 19.0, 30.0 if k % 2 else 50.0],
                    "tx_power": -59,
                }
            )
    by_cat: dict[str, list[str]] = {}
    for s in stores:
        by_cat.setdefault(s["category"], []).append(s["id"])
    campaign = {
        "id": "winter-beauty-week",
        "name": "Winter Beauty Week (atrium pop-up, ground floor)",
        "start": "2026-12-04T10:00:00",
        "end": "2026-12-06T22:00:00",
        "target_stores": [s for s in by_cat["beauty"] if s.startswith("f1")],
        "control_stores": by_cat["fashion"][:4],
    }
    return {
        "site": {
            "id": "demo-mall",
            "name": "Riverside Galleria (demo)",
            "timezone": "Asia/Shanghai",
            "catchment_population": 2_200_000,
            "privacy_mode": "strict",
            "opens": "10:00",
            "closes": "22:00",
            "occupancy_alert": 6000,
        },
        "floors": floors,
        "zones": zones,
        "stores": stores,
        "entrances": entrances,
        "sensors": sensors,
        "beacons": beacons,
        "campaigns": [campaign],
        "simulation": {
            "daily_visitors": 18000,
            "affinity": [
                ["cafe", "electronics"],
                ["beauty", "jewelry", "fashion"],
                ["kids", "sports"],
                ["restaurant", "cinema"],
                ["supermarket", "home", "pharmacy"],
                ["food", "cafe"],
            ],
            "campaign_uplift": {"winter-beauty-week": 0.25},
        },
    }


if __name__ == "__main__":
    sys.stdout.write(
        "# Demo mall for mallsense, generated by scripts/make_demo_mall.py (edit that, then regenerate).\n"
    )
    sys.stdout.write("# Coordinates are metres in each floor's frame; see docs/site-model.md.\n")
    yaml.safe_dump(build(), sys.stdout, sort_keys=False, default_flow_style=None, width=120)

"""How simulated shoppers behave on average: arrival curves, store appeal by hour, dwell, spend and phones.

Plain numbers and small pure functions, in one place so that :mod:`simulator.world` reads as the story of a day and
the assumptions can be tuned (or compared with real footfall) without touching the mechanics. Every value is an
assumption about a typical Chinese / Asian urban mall; sites tune volume and mix through ``simulation`` in the site
file, not here.
"""

from __future__ import annotations

import math

# ------------------------------------------------------------------------------------------------- arrivals
# Relative arrivals per local clock hour. Weekdays: a lunch peak (12-13 h) and a stronger evening peak (18-19 h)
# after work. Weekends: busy from late morning through the afternoon, then the evening. Hours a mall is open that
# are missing here (very early or late openings) get OTHER_HOUR.
WEEKDAY_ARRIVALS = {
    8: 0.15, 9: 0.3, 10: 0.45, 11: 0.8, 12: 1.2, 13: 1.05, 14: 0.75, 15: 0.7, 16: 0.8, 17: 1.0, 18: 1.3, 19: 1.2,
    20: 0.8, 21: 0.35, 22: 0.15,
}
WEEKEND_ARRIVALS = {
    8: 0.15, 9: 0.3, 10: 0.55, 11: 0.9, 12: 1.2, 13: 1.15, 14: 1.05, 15: 1.0, 16: 1.0, 17: 1.05, 18: 1.25,
    19: 1.15, 20: 0.85, 21: 0.4, 22: 0.15,
}
OTHER_HOUR = 0.1
LAST_ENTRY_BEFORE_CLOSE_S = 30 * 60  # nobody new comes in during the last half hour
SHOPS_CLOSE_GRACE_S = 5 * 60  # a shopper inside a store at closing is out within this


def arrival_weight(hour: int, weekend: bool) -> float:
    """Relative arrival intensity in local clock ``hour`` (0-23).

    >>> arrival_weight(18, weekend=False) > arrival_weight(10, weekend=False)
    True
    """
    return (WEEKEND_ARRIVALS if weekend else WEEKDAY_ARRIVALS).get(hour, OTHER_HOUR)


# ------------------------------------------------------------------------------------------------- doors
MAIN_DOOR_WEIGHT = 1.6  # an entrance whose name says "main"
STREET_DOOR_WEIGHT = 1.0
CAR_PARK_WEIGHT = 0.8  # each car-park lift hall (entrances with external: false)
SAME_DOOR_OUT = 0.55  # on foot: leave by the door you came in
CAR_PARK_RETURN = 0.9  # by car: go back down to the car park


def door_weight(name: str, external: bool) -> float:
    """Relative share of arrivals through one entrance."""
    if not external:
        return CAR_PARK_WEIGHT
    return MAIN_DOOR_WEIGHT if "main" in name.lower() else STREET_DOOR_WEIGHT


# ------------------------------------------------------------------------------------------------- stores
ANCHOR_APPEAL = 3.5  # department store, supermarket, cinema draw more people than a unit shop
CATEGORY_APPEAL = {"food": 1.3, "cafe": 1.2, "restaurant": 1.1, "services": 0.5, "pharmacy": 0.7, "books": 0.8}
AFFINITY_BOOST = 4.0  # after a store of one category, others of its affinity group are this much more likely
SAME_FLOOR_BOOST = 1.8  # shoppers tend to stay on the floor they are on
WALK_THROUGH_SHARE = 0.06  # visitors who enter no store at all (cut-through, meeting someone, just browsing)
CORRIDOR_BROWSE_SHARE = 0.2  # after a store: window-shop in the corridor for a while
ATRIUM_LINGER_SHARE = 0.1  # after a store: sit or watch an event in the atrium / food court


def hour_appeal(category: str, hour: int) -> float:
    """How much more (or less) a category attracts at local clock ``hour`` than on average.

    Meals at lunch and dinner, coffee in the afternoon, the cinema and groceries after work.
    """
    if category == "restaurant":
        return 2.2 if hour in (11, 12, 13) else 2.5 if hour in (17, 18, 19) else 0.5
    if category == "food":
        return 2.5 if hour in (11, 12, 13) else 1.8 if hour in (17, 18, 19) else 0.7
    if category == "cafe":
        return 1.5 if hour in (14, 15, 16) else 1.0
    if category == "cinema":
        return 0.4 if hour < 13 else 1.8 if hour >= 17 else 1.0
    if category == "supermarket":
        return 1.5 if hour in (17, 18, 19) else 1.0
    return 1.0


# ------------------------------------------------------------------------------------------------- dwell
DWELL_MEDIAN_MIN = {
    "cafe": 22, "restaurant": 55, "cinema": 130, "supermarket": 28, "department_store": 35, "food": 20,
    "fashion": 14, "beauty": 13, "jewelry": 10, "electronics": 14, "sports": 12, "kids": 15, "home": 12,
    "books": 15, "pharmacy": 8, "services": 12,
}
DEFAULT_DWELL_MEDIAN_MIN = 12
DWELL_SIGMA = 0.45  # lognormal shape: most stays within 0.5x .. 2x the median
MAX_DWELL_S = 4 * 3600
BOUNCE_SHARE = 0.15  # entries that turn round within two minutes ...
BOUNCE_S = (30.0, 110.0)
NO_BOUNCE = frozenset({"cinema", "restaurant"})  # ... except where you came for a seat


def dwell_median_s(category: str) -> float:
    return DWELL_MEDIAN_MIN.get(category, DEFAULT_DWELL_MEDIAN_MIN) * 60.0


# ------------------------------------------------------------------------------------------------- purchases
# Relative chance that an entry (not a bounce) ends in a purchase; scaled per day so that the mean over all store
# entries is the site's ``purchase_probability``.
PURCHASE_PROPENSITY = {
    "supermarket": 2.8, "food": 3.0, "cafe": 2.8, "restaurant": 3.0, "cinema": 3.0, "pharmacy": 2.0,
    "jewelry": 0.5, "electronics": 0.6, "services": 1.2,
}
MAX_PURCHASE_PROBABILITY = 0.95
SPEND_MEDIAN = {
    "supermarket": 180, "food": 45, "cafe": 38, "restaurant": 160, "cinema": 90, "department_store": 420,
    "jewelry": 1600, "electronics": 900, "fashion": 380, "beauty": 320, "sports": 450, "kids": 220, "home": 260,
    "books": 85, "pharmacy": 75, "services": 120,
}
DEFAULT_SPEND_MEDIAN = 150
SPEND_SIGMA = 0.6
TIER_SPEND = {"standard": 1.0, "silver": 1.2, "gold": 1.5, "vip": 2.2}


def spend_median(category: str) -> float:
    return float(SPEND_MEDIAN.get(category, DEFAULT_SPEND_MEDIAN))


# ------------------------------------------------------------------------------------------------- walking
WALK_SPEED_M_S = (1.15, 0.2, 0.7, 1.7)  # mean, sd, min, max of a visitor's pace
LEVEL_RIDE_S = 35.0  # escalator ride per level
LIFT_WAIT_S = (0.0, 20.0)
DOOR_HALL_PAUSE_S = (2.0, 15.0)  # look at the directory, fold the umbrella

# ------------------------------------------------------------------------------------------------- members
TIERS = (("standard", 0.70), ("silver", 0.20), ("gold", 0.08), ("vip", 0.02))
TIER_FREQUENCY = {"standard": 1.0, "silver": 1.5, "gold": 2.2, "vip": 3.5}  # relative visit propensity
FREQUENCY_SIGMA = 1.0  # lognormal spread of visit propensity between members of one tier
MEMBER_HISTORY_DAYS = 1500  # join dates spread over the years before the simulation starts

# ------------------------------------------------------------------------------------------------- phones
# (model, IE-set label): the information elements a model sends in probe requests, hashed into the fingerprint.
PHONE_MODELS = (
    ("iphone-15", "ios17/ht,vht,he,ext-cap-7"), ("iphone-13", "ios16/ht,vht,ext-cap-7"),
    ("galaxy-s23", "oneui5/ht,vht,he,rm,ext-cap-9"), ("pixel-8", "android14/ht,vht,he,ext-cap-10"),
    ("xiaomi-13", "miui14/ht,vht,he,vendor-xm"), ("oppo-find-x6", "coloros13/ht,vht,he,vendor-op"),
    ("huawei-p60", "harmony3/ht,vht,vendor-hw"),
)
PROBE_MEAN_S = (40.0, 120.0)  # per phone: mean seconds between probe bursts (screen use varies)
PROBE_MIN_GAP_S = 3.0
MAC_ROTATION_S = (12 * 60, 18 * 60)  # randomized MACs change about every 15 minutes
WIFI_CHANNELS = (1, 6, 11)
BLE_ADVERT_EVERY_S = 15.0  # the member app's beacon as reported by a scanner (deduplicated)


def lognormal_mu(median: float) -> float:
    """The ``mu`` of a lognormal distribution with this median."""
    return math.log(median)

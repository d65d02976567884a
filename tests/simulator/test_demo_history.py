"""The demo's campaigns move into its history (one that works, one that does not) and its label names the inputs."""

from __future__ import annotations

from datetime import date, timedelta

from mallsense.demo import demo_start_day
from mallsense.demo_history import CAMPAIGN_DAYS, DEMO_UPLIFT, NO_EFFECT_ID, demo_site, history_label
from mallsense.site import load_site
from models.campaigns import campaign_days

LIVE = date(2026, 11, 28)


def test_campaigns_run_inside_the_history_with_time_before_them():
    site = load_site()
    moved = demo_site(site, LIVE, 21)
    by_id = {c.id: c for c in moved.campaigns}
    assert set(by_id) == {"winter-beauty-week", NO_EFFECT_ID}
    first, last = campaign_days(moved, by_id["winter-beauty-week"])
    assert last == LIVE - timedelta(days=1) and (last - first).days + 1 == CAMPAIGN_DAYS
    assert first >= LIVE - timedelta(days=21) + timedelta(days=7)  # a week at least to compare with
    assert campaign_days(moved, by_id[NO_EFFECT_ID]) == (first, last)
    effect, none = by_id["winter-beauty-week"], by_id[NO_EFFECT_ID]
    assert not {*effect.target_stores, *effect.control_stores} & {*none.target_stores, *none.control_stores}
    assert none.target_stores and none.control_stores
    assert moved.simulation.campaign_uplift == {"winter-beauty-week": max(DEMO_UPLIFT, 0.25)}
    assert moved.stores == site.stores and moved.sensors == site.sensors


def test_no_history_keeps_the_site_and_too_little_history_drops_the_campaigns():
    site = load_site()
    assert demo_site(site, LIVE, 0) is site
    assert demo_site(site, LIVE, 7).campaigns == []
    assert demo_site(site, LIVE, 7).simulation.campaign_uplift == {}


def test_the_label_changes_with_every_input_and_the_live_day_is_a_past_saturday():
    site = demo_site(load_site(), LIVE, 21)
    label = history_label(site, LIVE, 21, 0.02, 0)
    assert label == history_label(site, LIVE, 21, 0.02, 0)
    others = {history_label(site, LIVE + timedelta(days=7), 21, 0.02, 0), history_label(site, LIVE, 14, 0.02, 0),
              history_label(site, LIVE, 21, 0.03, 0), history_label(site, LIVE, 21, 0.02, 1),
              history_label(site.model_copy(update={"campaigns": []}), LIVE, 21, 0.02, 0)}
    assert label not in others and len(others) == 5
    day = demo_start_day(site, date(2026, 12, 7))
    assert day.weekday() == 5 and date(2026, 12, 7) - day >= timedelta(days=7)

"""The embedded default data source: an agent-based simulated mall with ground truth.

It publishes through the same edge code paths and wire contract as real collectors and writes what really happened
next to it, so tests can score every metric end to end.

Modules, from people to wire:

- :mod:`simulator.profiles` — behavioural assumptions (arrival curves, dwell, spend, phones) in one place
- :mod:`simulator.layout` — where people can walk: zone graph, openings, store doors, escalators
- :mod:`simulator.members` — the CRM member base and the phones people carry
- :mod:`simulator.itinerary` — one visitor's timed path as contiguous zone segments
- :mod:`simulator.world` — a day's visits, purchases and campaign visits (pure, seeded)
- :mod:`simulator.radio` — MAC addresses and rotation, probe fingerprints, path loss
- :mod:`simulator.sensing` — what cameras, WiFi and BLE sensors report, window by window (pure, seeded)
- :mod:`simulator.truth` — the ground-truth files
- :mod:`simulator.run` — :func:`~simulator.run.simulate`: days → windows → SensorStream → Outbox → EdgeLink
"""

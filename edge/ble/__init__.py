"""The BLE collector: beacon advertisements in, keyed ``BleObs`` batches out (docs/ble.md).

- :mod:`edge.ble.frames`: the :class:`Advertisement` record and the beacon decoders (iBeacon, AltBeacon, Eddystone).
- :mod:`edge.ble.scanner`: live advertisements from an adapter (bleak), restarted with back-off.
- :mod:`edge.ble.replay`: the JSON-lines recording format, its writer and a paced reader.
- :mod:`edge.ble.capture`: advertisements from sniffer captures (nRF Sniffer pcapng, BLE link-layer and HCI pcaps).
- :mod:`edge.ble.collector`: advertisements → contract observations through the node's outbox.

Importing this package loads neither bleak nor scapy; the modules that need them import them.
"""

from edge.ble.frames import Advertisement, Beacon, beacons

__all__ = ["Advertisement", "Beacon", "beacons"]

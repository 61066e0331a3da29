#!/usr/bin/env bash
# Install Consortia into .venv (if needed) and run the end-to-end demo on a local network.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/consortia demo "$@"

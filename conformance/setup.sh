#!/usr/bin/env bash
# Creates the conformance suite's Python environment in .venv at the repository root.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x "$root/.venv/bin/python" ]; then
  python3 -m venv "$root/.venv"
fi
"$root/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/conformance/requirements.txt"

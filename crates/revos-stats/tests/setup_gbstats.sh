#!/usr/bin/env sh
# Creates the Python venv with the reference gbstats that
# tests/gbstats_compare.rs compares revos-stats against. Idempotent and quiet:
# does nothing when the venv already has the pinned version.
#
#   sh crates/revos-stats/tests/setup_gbstats.sh
#
# The venv lives in $REVOS_GBSTATS_VENV (default ~/.cache/revos-gbstats); the
# test finds its interpreter there, or at $REVOS_GBSTATS_PYTHON if set.
set -eu

GBSTATS_VERSION=0.8.0
VENV="${REVOS_GBSTATS_VENV:-$HOME/.cache/revos-gbstats}"

if "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('gbstats') != '$GBSTATS_VERSION')" 2>/dev/null; then
    exit 0
fi

python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "gbstats==$GBSTATS_VERSION"

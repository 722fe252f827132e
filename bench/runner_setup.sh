# Sourced by the bench/run_*.sh runners that put our benchmark beside its Python reference: strict
# mode, the repository root as working directory, BUILD (default: build-device if present, else
# build), PYTHON (default python3), and $logs, a temporary folder removed on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD=${BUILD:-$( [ -d build-device ] && echo build-device || echo build )}
PYTHON=${PYTHON:-python3}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

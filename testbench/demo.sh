#!/usr/bin/env bash
# make demo: Patchbay's whole story on this machine (testbench/cmd/demo).
# make builds bin/ first; extra arguments go to the demo (--keep, --devices N, --fleet N).
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./testbench/cmd/demo --bin bin --dir .demo "$@"

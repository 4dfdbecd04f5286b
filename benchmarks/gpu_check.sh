#!/usr/bin/env bash
# Run the GPU check from the repository root without installing ibscope.
#
#   benchmarks/gpu_check.sh OUT_DIR [more gpu_check.py options]
#
# MNIST is read from $DATA_DIR (default .gpu-data/mnist: the four *-idx?-ubyte.gz files);
# the interpreter is $PYTHON (default python3). Everything goes to OUT_DIR (report.md first).
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: $0 OUT_DIR [gpu_check.py options, e.g. --device cpu --quick]" >&2
    exit 2
fi
cd "$(dirname "$0")/.."
out="$1"
shift
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" benchmarks/gpu_check.py --out "$out" --data-dir "${DATA_DIR:-.gpu-data/mnist}" "$@"

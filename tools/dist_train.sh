#!/usr/bin/env bash
# Distributed training: tools/dist_train.sh CONFIG GPUS [tools/train.py args]
# (NNODES, NODE_RANK, MASTER_ADDR, PORT for several nodes: see torchrun.sh)
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG GPUS [tools/train.py arguments]" >&2
    exit 2
fi
exec "$(dirname "$0")/torchrun.sh" "$2" train.py "$1" "${@:3}"

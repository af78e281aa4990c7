#!/usr/bin/env bash
# torchrun for this project's tools: tools/torchrun.sh NPROC SCRIPT [args]
# (SCRIPT relative to tools/). Several nodes: set NNODES, NODE_RANK,
# MASTER_ADDR and PORT on each node. Without CUDA the processes run on the
# CPU and talk over gloo.
set -euo pipefail
NPROC=$1
SCRIPT=$2
shift 2
exec python -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" \
    --nproc_per_node="$NPROC" \
    "$(dirname "$0")/$SCRIPT" "$@" --launcher pytorch

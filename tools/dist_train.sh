#!/usr/bin/env bash
# Distributed training with torchrun: bash tools/dist_train.sh CONFIG NUM_PROCS [tools/train.py options]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node. On CPU-only machines the processes talk
# over gloo (tools/train.py switches mmengine's default nccl backend to gloo when torch sees no GPU).
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG NUM_PROCS [tools/train.py options]" >&2
    exit 2
fi
CONFIG=$1
NPROCS=$2
shift 2
PYTHON=${PYTHON:-python}
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
    --nproc_per_node="$NPROCS" \
    "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "$@"

#!/usr/bin/env bash
# torchrun launcher behind dist_train.sh and dist_test.sh: bash tools/dist_launch.sh NUM_PROCS TOOL.py [args]
# Runs tools/TOOL.py in NUM_PROCS processes per node with --launcher pytorch. Multi-node: set NNODES, NODE_RANK,
# MASTER_ADDR and PORT on every node. On CPU-only machines the processes talk over gloo (the tools switch
# mmengine's default nccl backend to gloo when torch sees no GPU). PYTHON picks the interpreter.
set -euo pipefail
NPROCS=$1
TOOL=$2
shift 2
exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
    --nproc_per_node="$NPROCS" \
    "$(dirname "$0")/$TOOL" "$@" --launcher pytorch

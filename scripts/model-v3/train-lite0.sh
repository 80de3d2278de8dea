#!/usr/bin/env bash
# Model v3's Lite0 member (model card: "The long run"): the whole network from v2's Lite0, 224 px, bf16
# autocast, 19,000-photo epochs (SGDR: a cosine cycle each). Resumable: run it again after any stop.
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE=${CACHE:-/work/cache}
RUN=$CACHE/v3/run-l0
if [ -f "$RUN/checkpoint.pt" ]; then
  exec nice -n 5 .venv/bin/ml train --resume "$RUN"
fi
exec nice -n 5 .venv/bin/ml train --data "$CACHE/mp90/train" --split "$CACHE/v3/split.json" --output "$RUN" \
  --backbone efficientnet-lite0 --init ml/models/default.pt --input-size 224 \
  --epochs 20 --epoch-photos 19000 --restart-period 1 --lr 0.005 --lr-min 0.0001 --batch-size 32 \
  --augment-strength 1 --label-smoothing 0.1 --threads 2 --workers 1 --checkpoint-minutes 5

#!/usr/bin/env bash
# Issue 20's measurements for one model file, back to back (README: Worker performance, Performance):
#   1. ml quantize: the file plus its int8 graph, calibrated on the split's validation photos;
#   2. ml compare, paired on held-out photos: int8 against fp32, then Telegram's largest copy against the
#      copy the bot downloads (both in int8, as the worker serves it);
#   3. benchmarks/worker_throughput.py: fp32 and int8, 1280 px and the downloaded copy, 1 and 8 in flight,
#      decode alone, GFLOP/s against the measured peaks, RQ's bytes per job;
#   4. benchmarks/e2e_latency.py: the bot path's share of the worker's photos/s and one user's p50 ratio.
# Usage: scripts/measure-serving.sh MODEL.pt DATA_DIR SPLIT.json OUT_DIR [PER_CLASS (20)]
# Everything is written to OUT_DIR (logs, JSON, the quantized model); runs niced, 2 threads.
set -euo pipefail
if [[ $# -lt 4 ]]; then
    sed -n '2,10p' "$0" >&2
    exit 2
fi
model=$1 data=$2 split=$3 out=$4 per_class=${5:-20}
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python}
mkdir -p "$out"
ml() { PYTHONPATH="$repo" nice -n 5 "$python" -c "import sys; from ml.cli import main; sys.exit(main())" "$@"; }
bench() { PYTHONPATH="$repo" nice -n 5 "$python" "$repo/benchmarks/$1" "${@:2}"; }
int8="$out/int8.pt"
common=(--data "$data" --split "$split" --part heldout --per-class "$per_class" --threads 2 --batch-size 32
        --onnx-cache "$out/onnx")

shown() { grep -v " INFO " "$1" || true; }  # the tables, without the progress lines
ml quantize --model "$model" --data "$data" --split "$split" --output "$int8" --onnx-cache "$out/onnx" \
    > "$out/quantize.log" 2>&1
tail -n 1 "$out/quantize.log"
ml compare "$model" "$int8" "${common[@]}" --json "$out/compare-int8.json" > "$out/compare-int8.log" 2>&1
shown "$out/compare-int8.log"
ml compare "$int8" "$int8" --telegram-size-a largest --telegram-size-b fit "${common[@]}" \
    --json "$out/compare-size.json" > "$out/compare-size.log" 2>&1
shown "$out/compare-size.log"
echo "load average before the benchmarks: $(cut -d' ' -f1-3 /proc/loadavg)"
bench worker_throughput.py --model "$int8" --backends onnx --precisions fp32,int8 --sizes largest,fit \
    --in-flight 1,8 --tta 1 --threads 2 --scale 2 --no-direct --out "$out/worker_throughput.json" \
    | tee "$out/worker_throughput.log"
bench e2e_latency.py --users 1,20 --tta 1 --photos-per-user 3 --min-photos 60 --worker-threads 2 \
    --model-path "$int8" --output "$out/e2e_latency.json" | tee "$out/e2e_latency.log"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

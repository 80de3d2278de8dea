"""Training speed of a whole network on this machine: photos/s of one SGD step (forward, backward, update)
with every block trainable, per input side, in float32 and under bf16 autocast, back to back in one run.

    python benchmarks/train_step.py                                  # Lite0; 128, 160, 224; fp32 and bf16
    python benchmarks/train_step.py --backbone efficientnet-lite2 --sizes 128,160 --steps 4

Random tensors stand in for photos (decoding is not part of a step). Prints a table and writes JSON to
benchmarks/results/train_step_<device>.json with the load average before and after (a shared machine's
other processes compete for the CPU, so compare rows of one run only).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ml.serving.model import build_model  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"


def photos_per_second(
    model: torch.nn.Module,
    size: int,
    *,
    batch: int,
    steps: int,
    warmup: int,
    bf16: bool,
    device: torch.device,
) -> float:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    inputs = torch.randn(batch, 3, size, size, device=device)
    targets = torch.randint(0, 100, (batch,), device=device)
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    model.train()
    began = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            began = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(inputs)
        loss = criterion(logits.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - began)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="efficientnet-lite0")
    parser.add_argument("--sizes", default="128,160,224")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    load_before = os.getloadavg()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        model = build_model(args.backbone, 100, size, weights=None).to(device)
        for bf16 in (False, True):
            speed = photos_per_second(
                model, size, batch=args.batch, steps=args.steps, warmup=args.warmup, bf16=bf16, device=device
            )
            rows.append(
                {
                    "size": size,
                    "precision": "bf16 autocast" if bf16 else "fp32",
                    "photos_per_s": round(speed, 2),
                }
            )
            print(
                f"{args.backbone} {size:>4} px  {rows[-1]['precision']:<14} {speed:7.2f} photos/s", flush=True
            )
    out = {
        "backbone": args.backbone,
        "batch": args.batch,
        "steps": args.steps,
        "threads": args.threads,
        "device": args.device,
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"train_step_{device.type}.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

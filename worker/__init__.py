"""The worker: the RQ side of the photo queue (`python -m worker`, `scenetag-worker`).

OpenMP's threads (torch's preprocessing) sleep when idle instead of spinning, unless the environment says
otherwise. libgomp reads OMP_WAIT_POLICY once, when torch loads it, so it is set here, before any worker
module imports torch. Measured on 2 cores (benchmarks/e2e_latency.py, int8, 2026-12-04): the worker alone
served 81 against 48-59 photos/s with one photo in flight, and with ONNX Runtime's spinning off too
(ml.serving.onnx_runtime) the bot path 42-47 against 28-30 replies/s with 20 users.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

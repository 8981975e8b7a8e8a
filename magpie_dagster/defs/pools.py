"""Concurrency pools: what a run occupies while it works, so a queued backfill starts only what the hardware holds.

Every asset that drives a model (generation, responses, judging, preference sampling) is in the `model_engine`
pool. With the shipped instance (deploy/dagster.yaml: pools at run granularity) the queued run coordinator
starts a run only while the pool has a free slot: one by default (one GPU, or one local llama.cpp that busy-waits
every core). Raise it to the number of GPUs or servers: `dagster instance concurrency set model_engine 4`.
Dedup and exports use no engine and run beside it; a tag limit keeps one run per model (its engine) at a time.
"""

from __future__ import annotations

ENGINE_POOL = "model_engine"

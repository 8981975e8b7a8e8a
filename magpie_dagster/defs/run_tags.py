"""Run tags for Dagster's Kubernetes run launcher (deploy/k8s): the GPUs a partition's run pod requests.

A run of `magpie_job` loads its engines one step at a time, each step in its own process, so its pod needs as
many GPUs as the largest in-process vLLM engine among the partition's generator, the judge (when it answers
anything) and the safety guard.
Engines behind a server (`openai`, the deploy/k8s/vllm.yaml StatefulSet) and llama.cpp need none.
"""

from __future__ import annotations

import json

from magpie_dagster.domain.catalogue import Catalogue

K8S_CONFIG_TAG = "dagster-k8s/config"
GPU_RESOURCE = "nvidia.com/gpu"


def gpus_for(catalogue: Catalogue, model_key: str) -> int:
    judging = catalogue.judging
    entries = [catalogue.entry(model_key), judging.judge if judging.judge_answers else None, judging.safety]
    return max((entry.tensor_parallel_size for entry in entries if entry is not None and entry.engine == "vllm"),
               default=0)  # fmt: skip


def k8s_run_tags(catalogue: Catalogue, model_key: str) -> dict[str, str]:
    """`{"dagster-k8s/config": ...}` asking for the partition's GPUs; empty when it needs none."""
    gpus = gpus_for(catalogue, model_key)
    if not gpus:
        return {}
    config = {"container_config": {"resources": {"limits": {GPU_RESOURCE: str(gpus)}}}}
    return {K8S_CONFIG_TAG: json.dumps(config)}

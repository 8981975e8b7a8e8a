"""Which optimised CPU paths llama.cpp may take, decided once per model load.

llama.cpp repacks weights into "extra buffer types" for faster CPU kernels. On Intel Xeons with AMX (Sapphire
Rapids and later) the AMX repack crashes with SIGSEGV in `ggml_backend_amx_mul_mat` on the first decode
(llama.cpp issue 20824, closed unfixed). The AMX buffer type exists only in a library compiled with AMX, so:
`scripts/bootstrap` builds without it, and a library that still has it (a wheel pip cached before, or one built
elsewhere) is loaded with the extra buffer types off. Libraries without AMX keep the other repacks.

`Llama(...)` takes its model parameters from `llama_model_default_params()` and has no switch for
`use_extra_bufts`, so the default is replaced for the duration of one load.

Threads: llama.cpp's threads busy-wait at every step, so one more thread than the cores the process may run on
waits for a core another holds (measured: ~10x slower). `thread_count` keeps `n_threads` within the process's CPU
set (taskset, a container's cpuset, a pinned test worker).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from llama_cpp import Llama

ExtraBuffers = Literal["auto"] | bool

AMX_FEATURES = ("AMX_INT8", "AMX_BF16", "AMX_TILE")
_load_lock = threading.Lock()


def library_cpu_features() -> dict[str, str]:
    """The CPU backend's compiled-in features, e.g. {"AVX2": "1", "AMX_INT8": "1"} (`llama_print_system_info`)."""
    import llama_cpp

    features = {}
    for part in llama_cpp.llama_print_system_info().decode("utf-8", errors="replace").split("|"):
        name, separator, value = part.rpartition("=")
        if separator:
            features[name.split(":")[-1].strip()] = value.strip()
    return features


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity where the OS has one, else every core."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def thread_count(requested: int | None) -> int:
    """`n_threads` from the catalogue, at most `usable_cores()`; unset, llama-cpp-python's own default (half the
    machine's logical cores, one per physical core on most CPUs), within the same bound."""
    wanted = requested or max((os.cpu_count() or 2) // 2, 1)
    return max(1, min(wanted, usable_cores()))


def library_has_amx(features: dict[str, str]) -> bool:
    return any(features.get(name) == "1" for name in AMX_FEATURES)


def use_extra_buffers(setting: ExtraBuffers, features: dict[str, str]) -> bool:
    """`auto`: the repacks are safe unless the library carries the AMX path; `true`/`false` force it."""
    if setting == "auto":
        return not library_has_amx(features)
    return bool(setting)


@contextmanager
def model_params_with_extra_buffers(enabled: bool) -> Iterator[None]:
    """Every `Llama(...)` constructed inside gets `use_extra_bufts = enabled` in its model parameters."""
    import llama_cpp.llama_cpp as native

    original = native.llama_model_default_params

    def default_params():
        params = original()
        params.use_extra_bufts = enabled
        return params

    with _load_lock:
        native.llama_model_default_params = default_params
        try:
            yield
        finally:
            native.llama_model_default_params = original


def load_llama(model_path: str, extra_buffers: ExtraBuffers, **llama_arguments) -> Llama:
    """`Llama(model_path, ...)` with the extra buffer types `use_extra_buffers` chooses, checked on the loaded model:
    a llama-cpp-python that stopped reading `llama_model_default_params()` would silently load the AMX path."""
    from llama_cpp import Llama

    enabled = use_extra_buffers(extra_buffers, library_cpu_features())
    with model_params_with_extra_buffers(enabled):
        llama = Llama(model_path=model_path, **llama_arguments)
    if llama.model_params.use_extra_bufts != enabled:
        llama.close()
        raise RuntimeError(
            "llama-cpp-python no longer takes its model parameters from llama_model_default_params(), so the "
            "AMX-safe load cannot be enforced; pin llama-cpp-python==0.3.36 as pyproject.toml does."
        )
    return llama

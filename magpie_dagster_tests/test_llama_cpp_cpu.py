"""Which CPU repacks llama.cpp may use: decided from the library's compiled-in features, forced by the catalogue."""

from __future__ import annotations

import pytest

from magpie_dagster.domain.catalogue import CatalogueError
from magpie_dagster.engines.llama_cpp_cpu import (
    library_cpu_features,
    library_has_amx,
    model_params_with_extra_buffers,
    use_extra_buffers,
)

SAPPHIRE_RAPIDS = {"AVX512": "1", "AVX512_VNNI": "1", "AMX_INT8": "1", "REPACK": "1"}
EPYC = {"AVX2": "1", "FMA": "1", "REPACK": "1"}


@pytest.mark.parametrize(
    ("setting", "features", "expected"),
    [
        ("auto", SAPPHIRE_RAPIDS, False),  # the AMX path crashes: no repacks at all
        ("auto", EPYC, True),  # the x86 repacks are safe, and faster on Q4_0 (bench/cpu_extra_buffers.py)
        (False, EPYC, False),
        (True, EPYC, True),
    ],
)
def test_auto_turns_repacks_off_only_where_the_library_has_amx(setting, features, expected):
    assert use_extra_buffers(setting, features) is expected


def test_amx_features_are_read_from_the_system_info_string(monkeypatch):
    import llama_cpp

    line = b"CPU : SSE3 = 1 | AVX512 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 | REPACK = 1 | "
    monkeypatch.setattr(llama_cpp, "llama_print_system_info", lambda: line)
    features = library_cpu_features()
    assert features == {"SSE3": "1", "AVX512": "1", "AMX_INT8": "1", "LLAMAFILE": "1", "REPACK": "1"}
    assert library_has_amx(features) and not library_has_amx(EPYC)


@pytest.mark.parametrize("enabled", [True, False])
def test_default_params_are_replaced_for_one_load_only(enabled):
    import llama_cpp.llama_cpp as native

    original = native.llama_model_default_params
    with model_params_with_extra_buffers(enabled):
        assert native.llama_model_default_params().use_extra_bufts is enabled
    assert native.llama_model_default_params is original
    with pytest.raises(RuntimeError), model_params_with_extra_buffers(enabled):
        raise RuntimeError("a failed load")
    assert native.llama_model_default_params is original


def test_the_catalogue_takes_true_false_or_auto(tmp_path):
    from magpie_dagster.domain.catalogue import load_catalogue

    path = tmp_path / "catalogue.yaml"
    entry = "{key: m, engine: llama_cpp, model: packaged:smollm2-135m-instruct, cpu_extra_buffers: %s}"
    path.write_text(f'start_date: "2026-11-01"\nmodels:\n  - {entry % "false"}\n')
    assert load_catalogue(path).entry("m").cpu_extra_buffers is False
    path.write_text(f'start_date: "2026-11-01"\nmodels:\n  - {entry % "sometimes"}\n')
    with pytest.raises(CatalogueError, match="cpu_extra_buffers"):
        load_catalogue(path)

"""The catalogue rejects every malformed entry with the file, the entry and the field in the message."""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from pathlib import Path

import pytest

from magpie_dagster.domain.catalogue import (
    CatalogueError,
    LlamaCppGenerator,
    OpenAIGenerator,
    load_catalogue,
)
from magpie_dagster.domain.tagging.prompts import PROMPTS
from magpie_dagster.settings import DEFAULT_CATALOGUE

VALID_ENTRY = """
  - key: small
    engine: llama_cpp
    model: packaged:smollm2-135m-instruct
    template: smollm2
"""


def write_catalogue(tmp_path: Path, models_yaml: str, start_date: str = "2026-11-01") -> Path:
    path = tmp_path / "catalogue.yaml"
    path.write_text(
        f'start_date: "{start_date}"\nmodels:\n' + textwrap.dedent(models_yaml).strip("\n") + "\n"
    )
    return path


def catalogue_error(tmp_path: Path, models_yaml: str) -> str:
    path = write_catalogue(tmp_path, models_yaml)
    with pytest.raises(CatalogueError) as raised:
        load_catalogue(path)
    message = str(raised.value)
    assert str(path) in message
    return message


def test_shipped_catalogue_loads_with_the_embedded_default():
    catalogue = load_catalogue(DEFAULT_CATALOGUE)
    assert catalogue.model_keys == ["smollm2_135m"]
    entry = catalogue.entry("smollm2_135m")
    assert isinstance(entry, LlamaCppGenerator)
    assert entry.model == "packaged:smollm2-135m-instruct"
    assert entry.template == "smollm2"
    assert entry.instruction_sampling.temperature == 1.0


def test_valid_entries_of_every_engine(tmp_path):
    path = write_catalogue(
        tmp_path,
        VALID_ENTRY
        + """
  - key: served
    engine: openai
    base_url: http://127.0.0.1:8000/v1
    model: qwen
    template: qwen2.5
    api_key_env: MY_KEY
    turns: 3
    system_prompts:
      - {name: math, weight: 2, text: "You are a math assistant."}
      - {name: plain}
  - key: gpu
    engine: vllm
    model: meta-llama/Meta-Llama-3-8B-Instruct
    template: llama-3
    template_variant: reference
""",
    )
    catalogue = load_catalogue(path)
    assert catalogue.model_keys == ["small", "served", "gpu"]
    assert catalogue.start_date == dt.date(2026, 11, 1)
    served = catalogue.entry("served")
    assert isinstance(served, OpenAIGenerator)
    assert served.turns == 3
    assert [prompt.name for prompt in served.system_prompts] == ["math", "plain"]
    assert served.system_prompts[1].text is None


@pytest.mark.parametrize("bad_key", ["Bad-Key", "1model", "has space", "a" * 64, ""])
def test_unsafe_partition_keys_are_rejected(tmp_path, bad_key):
    message = catalogue_error(tmp_path, VALID_ENTRY.replace("key: small", f"key: '{bad_key}'"))
    assert "models[0]" in message and "field 'key'" in message and "not a safe partition key" in message


def test_unknown_engine_is_named(tmp_path):
    message = catalogue_error(tmp_path, VALID_ENTRY.replace("engine: llama_cpp", "engine: tensorrt"))
    assert "entry models[0] (key 'small')" in message
    assert "field 'engine'" in message and "llama_cpp, vllm, openai" in message


def test_missing_engine_is_named(tmp_path):
    message = catalogue_error(tmp_path, VALID_ENTRY.replace("    engine: llama_cpp\n", ""))
    assert "field 'engine'" in message and "missing" in message


def test_missing_model_is_named(tmp_path):
    message = catalogue_error(
        tmp_path, VALID_ENTRY.replace("    model: packaged:smollm2-135m-instruct\n", "")
    )
    assert "(key 'small')" in message and "field 'model'" in message and "Field required" in message


@pytest.mark.parametrize(
    ("sampling", "field"),
    [
        ("{temperature: -1}", "instruction_sampling.temperature"),
        ("{top_p: 0}", "instruction_sampling.top_p"),
        ("{top_p: 1.5}", "instruction_sampling.top_p"),
        ("{max_tokens: 0}", "instruction_sampling.max_tokens"),
        ("{temprature: 1.0}", "instruction_sampling.temprature"),
    ],
)
def test_bad_sampling_values_are_named(tmp_path, sampling, field):
    message = catalogue_error(tmp_path, VALID_ENTRY + f"    instruction_sampling: {sampling}\n")
    assert f"field '{field}'" in message


def test_unknown_field_is_called_out(tmp_path):
    message = catalogue_error(tmp_path, VALID_ENTRY + "    instructions_per_bach: 5\n")
    assert "field 'instructions_per_bach'" in message and "unknown field" in message


def test_duplicate_keys_are_rejected(tmp_path):
    message = catalogue_error(tmp_path, VALID_ENTRY + VALID_ENTRY)
    assert "repeated: small" in message


def test_openai_entry_needs_a_url(tmp_path):
    message = catalogue_error(
        tmp_path, "  - {key: served, engine: openai, model: m, template: qwen2, base_url: 'localhost:8000'}\n"
    )
    assert "field 'base_url.0': String should match pattern '^https?://'" in message
    replicas = catalogue_error(
        tmp_path, "  - {key: served, engine: openai, model: m, template: qwen2, base_url: [http://a/v1, 'b:8000']}\n"
    )
    assert "field 'base_url.1': String should match pattern" in replicas
    assert "field 'base_url': Value should have at least 1 item" in catalogue_error(
        tmp_path, "  - {key: served, engine: openai, model: m, template: qwen2, base_url: []}\n"
    )


def test_not_yaml_and_missing_file(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("models: [unclosed\n")
    with pytest.raises(CatalogueError, match="broken.yaml: not valid YAML"):
        load_catalogue(broken)
    with pytest.raises(CatalogueError, match="not found"):
        load_catalogue(tmp_path / "absent.yaml")
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(CatalogueError, match="expected a mapping"):
        load_catalogue(listed)


def test_unknown_model_key_lists_the_known_ones(tmp_path):
    catalogue = load_catalogue(write_catalogue(tmp_path, VALID_ENTRY))
    with pytest.raises(CatalogueError, match="known: small"):
        catalogue.entry("nope")


def judging_error(tmp_path: Path, judging_yaml: str) -> str:
    path = write_catalogue(tmp_path, VALID_ENTRY)
    path.write_text(path.read_text() + "judging:\n" + textwrap.indent(textwrap.dedent(judging_yaml), "  "))
    with pytest.raises(CatalogueError) as raised:
        load_catalogue(path)
    return str(raised.value)


def test_judging_defaults_to_the_packaged_model(tmp_path):
    judging = load_catalogue(write_catalogue(tmp_path, VALID_ENTRY)).judging
    assert judging.judge.engine == "llama_cpp" and judging.judge.model == "packaged:smollm2-135m-instruct"
    assert judging.judge.tags == ("difficulty", "quality", "category") and judging.safety is None


def test_judge_prompt_versions_default_to_the_current_ones_and_can_be_chosen(tmp_path):
    path = write_catalogue(tmp_path, VALID_ENTRY)
    judging = "judging:\n  judge: {engine: llama_cpp, model: m.gguf, prompts: {quality: quality-v1}}\n"
    path.write_text(path.read_text() + judging)
    judge = load_catalogue(path).judging.judge
    assert judge.prompt_version("quality") == "quality-v1"
    assert judge.prompt_version("category") == PROMPTS["category"].version


@pytest.mark.parametrize(
    ("judging_yaml", "expected"),
    [
        ("judge: {engine: llama_cpp, model: m.gguf, tags: [difficulty, vibes]}", "judging.judge.tags.*unknown tag"),
        ("judge: {engine: gpt, model: m}", "judging.judge.*engine"),
        ("judge: {engine: openai, model: m, base_url: 'http://x/v1', structured_output: grammar}",
         "judging.judge.structured_output"),
        ("judge: {engine: llama_cpp, model: m.gguf}\nreward: {kind: magic}", "judging.reward"),
        ("judge: {engine: llama_cpp, model: m.gguf}\nlanguage_candidates: [en, xx]", "unknown ISO 639-1 code.*xx"),
        ("judge: {engine: llama_cpp, model: m.gguf, max_failure_rate: 2}", "judging.judge.max_failure_rate"),
        ("judge: {engine: llama_cpp, model: m.gguf, prompts: {category: quality-v1}}",
         "judging.judge.prompts.*prompts.category: unknown version 'quality-v1'; versions: category-v1, category-v2"),
        ("judge: {engine: llama_cpp, model: m.gguf, prompts: {vibes: vibes-v1}}", "prompts: unknown tag 'vibes'"),
    ],
)
def test_malformed_judging_names_the_field(tmp_path, judging_yaml, expected):
    assert re.search(expected, judging_error(tmp_path, judging_yaml), re.DOTALL)

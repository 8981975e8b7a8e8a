"""Lineage and licence: the dataset card's YAML header in the Hugging Face format (read back with huggingface_hub's
own card loader), the licence worked out from the source models, and each exported row's way back to the
warehouse."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
from huggingface_hub import DatasetCard

from magpie_dagster.domain.catalogue import load_catalogue
from magpie_dagster.domain.exports.lineage import SourceModel, dataset_license, lineage_of, size_category
from magpie_dagster.domain.tagging.config import Judging
from magpie_dagster_tests.backends import file_backend
from magpie_dagster_tests.fakes import FakeEngineResource
from magpie_dagster_tests.projects import Project

NIGHT = dt.date(2026, 11, 20)
CATALOGUE = """
start_date: "2026-11-01"
models:
  - {key: alpha, engine: llama_cpp, model: a.gguf, template: smollm2, instructions_per_batch: 8, license: llama3.1}
  - {key: beta, engine: llama_cpp, model: b.gguf, template: qwen2.5, instructions_per_batch: 8, license: apache-2.0}
judging:
  judge: {engine: llama_cpp, model: judge.gguf, license: apache-2.0}
"""


def source(role: str, license: str | None) -> SourceModel:
    return SourceModel(role, role, f"{role}.gguf", "llama_cpp", license)


def test_one_licence_when_all_agree_other_when_they_differ_unknown_when_one_is_missing():
    assert dataset_license([source("generator", "apache-2.0"), source("judge", "apache-2.0")]) == {
        "license": "apache-2.0"
    }
    mixed = dataset_license([source("generator", "llama3.1"), source("judge", "apache-2.0")])
    assert mixed == {
        "license": "other",
        "license_name": "mixed",
        "license_details": "llama3.1 (generator generator), apache-2.0 (judge judge)",
    }
    assert dataset_license([source("generator", None), source("judge", "mit")]) == {
        "license": "unknown",
        "license_details": "no licence given for: generator generator",
    }


def test_size_buckets_are_the_hubs():
    assert [size_category(n) for n in (0, 999, 1_000, 50_000, 999_999, 2_000_000)] == [
        "n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "n>1M",
    ]  # fmt: skip


def test_packaged_models_carry_their_known_licence_and_the_catalogue_names_the_rest(tmp_path):
    path = tmp_path / "catalogue.yaml"
    path.write_text(
        'start_date: "2026-11-01"\nmodels:\n  - {key: small, engine: llama_cpp, model: packaged:smollm2-135m-instruct,'
        " template: smollm2}\n  - {key: big, engine: llama_cpp, model: big.gguf, template: smollm2}\n"
    )
    catalogue = load_catalogue(path)
    lineage = lineage_of(catalogue.models, catalogue.judging, catalogue.dedup, labels_fingerprint="f00d")
    # The default tags by the classifier; the packaged judge answers nothing, so it made nothing.
    assert [(s.role, s.key, s.model, s.license) for s in lineage.sources] == [
        ("generator", "small", "packaged:smollm2-135m-instruct", "apache-2.0"),
        ("generator", "big", "big.gguf", None),
        ("classifier", "classifier", "packaged:all-minilm-l6-v2", "apache-2.0"),
        ("embedder", "dedup", "packaged:all-minilm-l6-v2", "apache-2.0"),
    ]
    assert lineage.templates == {"small": "smollm2", "big": "smollm2"}
    assert lineage.prompt_versions == dict.fromkeys(("difficulty", "quality", "category"), "centroid-v1:labels-f00d")
    judge = {"engine": "llama_cpp", "model": "j.gguf"}
    narrowed = Judging.model_validate({"judge": judge, "classifier": {"tags": ["category"]}})
    lineage = lineage_of(catalogue.models, narrowed, catalogue.dedup, labels_fingerprint="f00d")
    assert [s.role for s in lineage.sources][2:4] == ["judge", "classifier"]
    assert lineage.prompt_versions == {
        "difficulty": "difficulty-v2", "quality": "quality-v2", "category": "centroid-v1:labels-f00d"
    }  # fmt: skip


def test_the_cards_header_loads_with_huggingface_hub_and_every_row_joins_back(tmp_path):
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(CATALOGUE)
    project = Project(catalogue, file_backend(tmp_path), NIGHT)
    engines, instance = FakeEngineResource(), dg.DagsterInstance.ephemeral()
    for model in ("alpha", "beta"):
        assert project.materialise(model, engines, instance=instance).success
    assert project.curate(engines, instance=instance).success
    exports = project.backend.exports_path / NIGHT.isoformat()

    card = DatasetCard.load(exports / "README.md").data.to_dict()
    [(kept,)] = project.query("SELECT count(*) FROM curated_rows WHERE drop_reason IS NULL")
    assert card["license"] == "other" and card["license_name"] == "mixed"
    assert "llama3.1 (generator alpha)" in card["license_details"]
    assert card["task_categories"] == ["text-generation"] and card["size_categories"] == ["n<1K"]
    assert card["configs"] == [{"config_name": "default", "data_files": "curated.parquet"}]
    assert [(m["role"], m["key"], m["license"]) for m in card["source_models"]] == [
        ("generator", "alpha", "llama3.1"),
        ("generator", "beta", "apache-2.0"),
        ("judge", "judge", "apache-2.0"),
        ("embedder", "dedup", "apache-2.0"),
    ]
    made = card["magpie_dagster"]
    assert made["templates"] == {"alpha": "smollm2", "beta": "qwen2.5"} and made["night"] == NIGHT.isoformat()
    assert made["libraries"]["duckdb"] and made["scorecard"]["curated_rows"] == kept

    rows = [json.loads(line) for line in (exports / "sharegpt.jsonl").read_text().splitlines()]
    assert len(rows) == kept > 0
    for row in rows:
        lineage = row["lineage"]
        [(fingerprint, model, day)] = project.query(
            "SELECT fingerprint, model, partition_date FROM instructions WHERE conversation_id = ?",
            [lineage["instruction_id"]],
        )
        [(answer_fingerprint,)] = project.query(
            "SELECT fingerprint FROM responses WHERE conversation_id = ?", [row["conversation_id"]]
        )
        assert (lineage["instruction_fingerprint"], lineage["model"], lineage["partition_date"]) == (
            fingerprint, model, day.isoformat(),
        )  # fmt: skip
        assert lineage["response_fingerprint"] == answer_fingerprint and fingerprint and answer_fingerprint

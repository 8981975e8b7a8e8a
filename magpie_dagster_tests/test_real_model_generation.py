"""End to end on the REAL embedded model: Dagster materialises both generation assets into a DuckDB file."""

from __future__ import annotations

import textwrap

import dagster as dg
import pytest

from magpie_dagster.defs.assets.generation import build_generation_assets, fresh_run_config
from magpie_dagster.defs.partitions import build_model_date_partitions, model_date_key
from magpie_dagster.defs.resources import CatalogueResource, EngineResource, WarehouseResource
from magpie_dagster.domain.catalogue import load_catalogue
from magpie_dagster.domain.chat_templates import ChatFormat
from magpie_dagster.domain.generation.sanitise import DROP_REASONS
from magpie_dagster.engines.llama_cpp import LlamaCppEngine
from magpie_dagster.engines.packaged_model import PACKAGED_SMOLLM2
from magpie_dagster.storage.warehouse import Warehouse
from magpie_dagster_tests.nights import embedded_model_catalogue, real_model_night

pytestmark = pytest.mark.slow

NIGHT = real_model_night("2026-11-21")
CATALOGUE = embedded_model_catalogue(
    template="auto", instructions=6, batch_size=3, instruction_max_tokens=96, response_max_tokens=160
)


def materialise(catalogue_path, warehouse_path, run_config=None):
    catalogue = load_catalogue(catalogue_path)
    return dg.materialize(
        build_generation_assets(build_model_date_partitions(catalogue), catalogue.retries),
        run_config=run_config,
        partition_key=model_date_key("smollm2_135m", NIGHT),
        resources={
            "catalogue": CatalogueResource(path=str(catalogue_path)),
            "warehouse": WarehouseResource(path=str(warehouse_path)),
            "engines": EngineResource(),
        },
        instance=dg.DagsterInstance.ephemeral(),
    )


def test_auto_template_from_the_gguf_is_smollm2s_official_pre_query():
    with LlamaCppEngine(PACKAGED_SMOLLM2, n_ctx=512, n_threads=2) as engine:
        derived = ChatFormat.from_model_template(engine.chat_template(), pinned_date=NIGHT)
    assert (
        derived.instruction_prompt()
        == ChatFormat.from_family("smollm2", pinned_date=NIGHT).instruction_prompt()
    )
    assert "<|im_end|>" in derived.stop_strings


def test_real_model_fills_both_tables_and_a_rerun_replaces_them(tmp_path):
    catalogue_path = tmp_path / "catalogue.yaml"
    catalogue_path.write_text(textwrap.dedent(CATALOGUE))
    warehouse_path = tmp_path / "warehouse.duckdb"

    assert materialise(catalogue_path, warehouse_path).success
    with Warehouse(warehouse_path).connect(read_only=True) as connection:
        instructions = connection.execute(
            "SELECT conversation_id, instruction, raw_instruction, drop_reason, gen_input_configs, completion_tokens "
            "FROM instructions ORDER BY sample_index"
        ).fetchall()
        responses = connection.execute(
            "SELECT conversation_id, instruction, response, gen_response_configs.engine, conversations, drop_reason "
            "FROM responses ORDER BY conversation_id"
        ).fetchall()
        response_columns = [row[0] for row in connection.execute("DESCRIBE responses").fetchall()]

    assert len(instructions) == 6
    assert {row[3] for row in instructions} <= {None, *DROP_REASONS}
    kept = [row for row in instructions if row[3] is None]
    assert kept, "the packaged model writes some usable instruction in six samples (the checks below need rows)"
    assert all(row[1].strip() and row[5] > 0 for row in kept)
    assert all(row[4]["pre_query_template"].endswith("<|im_start|>user\n") for row in instructions)
    assert {row[0] for row in responses} == {row[0] for row in kept}
    assert all(row[3] == "llama_cpp" and row[5] in {None, "empty", "truncated", "looping"} for row in responses)
    assert all(row[2].strip() for row in responses if row[5] is None)
    assert all(row[4][0] == {"from": "human", "value": row[1]} for row in responses)
    assert {"conversation_id", "instruction", "response", "gen_response_configs", "model"} <= set(
        response_columns
    )

    resumed = materialise(catalogue_path, warehouse_path)
    reused = [event.materialization.metadata for event in resumed.get_asset_materialization_events()]
    assert [(m["generated"].value, m["reused"].value) for m in reused] == [(0, 6), (0, len(kept))], "all reused"

    assert materialise(catalogue_path, warehouse_path, fresh_run_config()).success
    with Warehouse(warehouse_path).connect(read_only=True) as connection:
        again = connection.execute(
            "SELECT conversation_id, instruction, raw_instruction, drop_reason, gen_input_configs, completion_tokens "
            "FROM instructions ORDER BY sample_index"
        ).fetchall()
        response_count = connection.execute("SELECT count(*) FROM responses").fetchone()[0]
    # Each batch is one engine call, which starts from an empty KV cache: same seeds, same machine, same texts.
    assert again == instructions, "same seeds on the same model give the same instructions, not duplicates"
    assert response_count == len(responses)

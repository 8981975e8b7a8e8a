"""`magpie-dagster probe --model KEY`: a few instructions from a catalogue model, and whether its template looks right.

The same probe a new partition runs before it spends its budget (`domain.generation.probe`): echo, empty,
truncation, reasoning and language rates against the entry's `probe` limits. Nothing is written; the exit code
is 0 when the probe passes and 1 when it fails, so a script can check a new entry before a backfill.
"""

from __future__ import annotations

import argparse
import datetime as dt

from magpie_dagster.defs.resources import command_api_key
from magpie_dagster.domain.catalogue import load_catalogue
from magpie_dagster.domain.generation.instructions import InstructionSettings, generate_instructions
from magpie_dagster.domain.generation.probe import probe_report
from magpie_dagster.domain.generation.sampling_plan import plan_samples
from magpie_dagster.engines.factory import open_engine
from magpie_dagster.settings import catalogue_path


def add_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "probe",
        help="sample a few instructions from a catalogue model and report whether its pre-query template looks "
        "right (echoed headers, empty, truncated, reasoning, language)",
    )
    command.add_argument("--model", required=True, help="the catalogue key of the model to probe")
    command.add_argument("--samples", type=int, help="instructions to sample (default: the entry's probe.samples)")
    command.add_argument(
        "--date",
        type=dt.date.fromisoformat,
        default=dt.date.today(),
        help="the night whose seeds and template date to use, YYYY-MM-DD (today)",
    )


def probe(arguments: argparse.Namespace) -> int:
    entry = load_catalogue(catalogue_path()).entry(arguments.model)
    if arguments.samples is not None and arguments.samples < 1:
        raise ValueError(f"--samples must be at least 1, got {arguments.samples}")
    samples = arguments.samples or entry.probe.samples
    settings = InstructionSettings(entry.instruction_sampling, entry.template_variant, entry.stop_at_assistant_word)
    plan = plan_samples(entry.key, arguments.date, samples, entry.system_prompts)
    engine = open_engine(entry, api_key=command_api_key(entry.key, entry), label=entry.key)
    try:
        chat_format = entry.chat_format(engine, arguments.date)
        batches = generate_instructions(
            engine, chat_format, plan, settings, model_key=entry.key, partition_date=arguments.date,
            batch_size=entry.batch_size,
        )  # fmt: skip
        records = [record for batch in batches for record in batch]
    finally:
        engine.close()
    report = probe_report(entry.key, chat_format.name, records, entry.probe, entry.instruction_sampling.max_tokens)
    print(report.render())
    return 0 if report.passed else 1

"""The model catalogue: which generator models exist, how each is served and sampled.

It is a YAML file a user edits to add a model without reading code; every entry becomes a partition.
Validation happens when the Dagster definitions load, so a typo fails loudly before any run starts,
with the file, the entry and the field in the message.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from magpie_dagster.domain.chat_templates import ChatFormat, ChatTemplateError, load_chat_template
from magpie_dagster.domain.chat_templates.validation import template_family_problem
from magpie_dagster.domain.completion import GenerationEngine
from magpie_dagster.domain.config_model import Strict
from magpie_dagster.domain.curation.config import CurationSettings
from magpie_dagster.domain.decontamination.config import DecontaminationSettings
from magpie_dagster.domain.dedup.config import DedupSettings
from magpie_dagster.domain.engine_config import (
    ENGINE_TAGS,
    LlamaCppConnection,
    OpenAIConnection,
    Sampling,
    VllmConnection,
)
from magpie_dagster.domain.exports.config import ExportSettings
from magpie_dagster.domain.generation.config import ProbeSettings, RetrySettings, SystemPrompt
from magpie_dagster.domain.preference.config import PreferenceSettings
from magpie_dagster.domain.rounds.config import Target
from magpie_dagster.domain.scorecard.config import ScorecardSettings
from magpie_dagster.domain.strict_yaml import load_unique_keys
from magpie_dagster.domain.tagging.config import ClassifierEntry, Judging, LlamaCppJudge

PARTITION_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class CatalogueError(ValueError):
    """The catalogue file is missing or malformed; the message names the file, entry and field."""


class _GeneratorBase(Strict):
    key: str
    template: str = Field("auto", min_length=1)
    template_variant: Literal["official", "reference"] = "official"
    chat_template_file: str | None = None
    instructions_per_batch: int = Field(20, ge=0, le=10_000_000)  # 0: a responder that writes no instructions
    batch_size: int = Field(16, ge=1, le=100_000)
    turns: int = Field(1, ge=1, le=8)
    instruction_sampling: Sampling = Sampling(temperature=1.0, top_p=1.0, max_tokens=512)
    response_sampling: Sampling = Sampling(temperature=0.0, top_p=1.0, max_tokens=1024)
    system_prompts: tuple[SystemPrompt, ...] = ()
    stop_at_assistant_word: bool = False
    probe: ProbeSettings = ProbeSettings()
    target: Target | None = None  # curated rows to end the night with, in rounds (`domain.rounds`)
    # Catalogue keys whose models answer this entry's instructions (each with its own template, engine and
    # sampling); empty: the entry answers its own. List the entry's own key to have it answer too.
    responders: tuple[str, ...] = ()

    def chat_format(self, engine: GenerationEngine, pinned_date: dt.date) -> ChatFormat:
        """A known family's format, or one derived from the model's own template. Dates in templates (Llama-3.1's
        "Today Date") are pinned to the partition date, so re-runs match."""
        if self.template != "auto":
            return ChatFormat.from_family(self.template, pinned_date=pinned_date)
        if self.chat_template_file:
            model_template = load_chat_template(self.chat_template_file)
        else:
            model_template = engine.chat_template()
        if model_template is None:
            raise ChatTemplateError(
                f"Model {self.key!r} has `template: auto`, but the {engine.engine_name} engine cannot read the "
                "model's chat template. Set `template` to a known family (e.g. llama-3, qwen2.5, smollm2) or "
                "`chat_template_file` to the model's tokenizer_config.json or a .jinja file."
            )
        return ChatFormat.from_model_template(model_template, pinned_date=pinned_date)

    @field_validator("key")
    @classmethod
    def _key_is_partition_safe(cls, key: str) -> str:
        if not PARTITION_KEY_PATTERN.match(key):
            raise ValueError(
                f"{key!r} is not a safe partition key: use lowercase letters, digits and '_', "
                "starting with a letter, at most 63 characters (e.g. 'llama3_8b')"
            )
        return key

    @model_validator(mode="after")
    def _template_can_do_what_is_asked(self) -> _GeneratorBase:
        if self.template == "auto":
            if self.template_variant == "reference":
                raise ValueError("template_variant 'reference' needs a named template family, not 'auto'")
            return self
        problem = template_family_problem(
            self.template, self.template_variant, steered=any(prompt.text for prompt in self.system_prompts)
        )
        if problem:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _a_target_needs_samples(self) -> _GeneratorBase:
        if self.target is not None and self.instructions_per_batch == 0:
            raise ValueError("a target needs instructions_per_batch of at least 1 (round 1's samples)")
        return self

    @model_validator(mode="after")
    def _unique_system_prompt_names(self) -> _GeneratorBase:
        names = [prompt.name for prompt in self.system_prompts]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"system_prompts names must be unique; repeated: {', '.join(duplicates)}")
        return self


class LlamaCppGenerator(_GeneratorBase, LlamaCppConnection):
    pass


class VllmGenerator(_GeneratorBase, VllmConnection):
    pass


class OpenAIGenerator(_GeneratorBase, OpenAIConnection):
    """Generation needs the raw completions endpoint; `structured_output` only matters for judges."""


GeneratorEntry = Annotated[LlamaCppGenerator | VllmGenerator | OpenAIGenerator, Field(discriminator="engine")]


# Without a `judging` section the CPU default tags, offline: the embedding classifier (packaged MiniLM, the
# packaged labels) answers difficulty, quality and category, and the packaged model is the judge of anything else
# asked of a judge (the reward's judge_score).
DEFAULT_JUDGING = Judging(
    judge=LlamaCppJudge(engine="llama_cpp", model="packaged:smollm2-135m-instruct", n_ctx=2048),
    classifier=ClassifierEntry(),
)


class Catalogue(Strict):
    start_date: dt.date
    models: tuple[GeneratorEntry, ...] = Field(min_length=1)
    judging: Judging = DEFAULT_JUDGING
    dedup: DedupSettings = DedupSettings()
    decontamination: DecontaminationSettings = DecontaminationSettings()
    curation: CurationSettings = CurationSettings()
    preference: PreferenceSettings | None = None  # needs `judging.reward`: pairs are ranked by reward
    exports: ExportSettings = ExportSettings()
    scorecard: ScorecardSettings = ScorecardSettings()
    retries: RetrySettings = RetrySettings()
    target: Target | None = None  # every entry's target, unless the entry sets its own
    # Whether the nightly schedule and the automation that builds the night run as soon as Dagster loads the
    # project; `false` ships them stopped (start them in the UI's Automation page).
    nightly: bool = True

    @model_validator(mode="after")
    def _unique_keys(self) -> Catalogue:
        keys = [entry.key for entry in self.models]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ValueError(f"model keys must be unique; repeated: {', '.join(duplicates)}")
        return self

    @model_validator(mode="after")
    def _responders_are_catalogue_models(self) -> Catalogue:
        keys = set(self.model_keys)
        for entry in self.models:
            unknown = [key for key in entry.responders if key not in keys]
            if unknown:
                raise ValueError(
                    f"model {entry.key!r}: responders {unknown} are not catalogue keys; add an entry for each "
                    f"responder (known: {', '.join(self.model_keys)})"
                )
            if len(set(entry.responders)) != len(entry.responders):
                raise ValueError(f"model {entry.key!r}: responders repeat a key: {list(entry.responders)}")
        return self

    @model_validator(mode="after")
    def _preference_needs_a_reward(self) -> Catalogue:
        if self.preference is not None and self.judging.reward is None:
            raise ValueError(
                "preference pairs are ranked by reward: configure judging.reward (a reward model or "
                "{kind: judge_score}) or remove the preference section"
            )
        return self

    @property
    def model_keys(self) -> list[str]:
        return [entry.key for entry in self.models]

    @property
    def engines_in_use(self) -> set[str]:
        """Engines of every generator, judge and guard (what to suspect when a step's process crashes)."""
        second = self.scorecard.second_judge
        entries = [*self.models, self.judging.judge, self.judging.safety, second and second.judge]
        return {entry.engine for entry in entries if entry is not None}

    def responders_of(self, key: str) -> list[GeneratorEntry]:
        """The entries that answer `key`'s instructions: its `responders`, or itself."""
        entry = self.entry(key)
        return [self.entry(responder) for responder in entry.responders] or [entry]

    def target_of(self, key: str) -> Target | None:
        return self.entry(key).target or self.target

    def target_rows(self) -> dict[str, int]:
        """model key -> the curated rows its night's subset may keep, for the models with a target."""
        return {key: target.curated_rows for key in self.model_keys if (target := self.target_of(key))}

    def entry(self, key: str) -> GeneratorEntry:
        for candidate in self.models:
            if candidate.key == key:
                return candidate
        raise CatalogueError(f"No model {key!r} in the catalogue; known: {', '.join(self.model_keys)}")


def load_catalogue(path: str | Path) -> Catalogue:
    path = Path(path)
    if path.is_dir():
        raise CatalogueError(f"{path} is a directory: point MAGPIE_CATALOGUE at the catalogue's YAML file")
    try:
        raw = load_unique_keys(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise CatalogueError(f"Model catalogue not found: {path}") from error
    except UnicodeDecodeError as error:
        raise CatalogueError(
            f"{path}: not UTF-8 text (byte {error.start}: {error.reason}); save the catalogue as UTF-8"
        ) from None
    except OSError as error:
        raise CatalogueError(f"{path}: cannot be read ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise CatalogueError(f"{path}: {_yaml_problem(error)}") from None
    if not isinstance(raw, dict):
        raise CatalogueError(
            f"{path}: expected a mapping with 'start_date' and 'models', got {type(raw).__name__}"
        )
    try:
        return Catalogue.model_validate(raw)
    except ValidationError as error:
        raise CatalogueError(_describe(path, raw, error)) from None


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"not valid YAML{where}: {problem}"


def _describe(path: Path, raw: dict, error: ValidationError) -> str:
    problems = error.errors()
    if any(len(problem["loc"]) > 1 and problem["loc"][0] == "models" for problem in problems):
        # A failed entry also makes pydantic report the tuple as too short: noise, not a second problem.
        problems = [problem for problem in problems if problem["loc"] != ("models",)]
    lines = [f"{path}: invalid model catalogue ({len(problems)} problem(s)):"]
    for problem in problems:
        location = list(problem["loc"])
        where = ""
        if len(location) >= 2 and location[0] == "models" and isinstance(location[1], int):
            index = location[1]
            entries = raw.get("models") or []
            key = (
                entries[index].get("key")
                if index < len(entries) and isinstance(entries[index], dict)
                else None
            )
            where = f"entry models[{index}]" + (f" (key {key!r})" if key else "")
            # Drop the discriminator tag pydantic inserts ("llama_cpp", ...) from the field path.
            location = [part for part in location[2:] if part not in ENGINE_TAGS]
        else:
            location = [part for part in location if part not in (*ENGINE_TAGS, "reward_model", "judge_score")]
        field = ".".join(str(part) for part in location) or "(entry)"
        message = problem["msg"]
        if problem["type"] in ("union_tag_invalid", "union_tag_not_found"):
            context = problem.get("ctx", {})
            discriminator = str(context.get("discriminator", "engine")).strip("'")
            field = discriminator if field == "(entry)" else f"{field}.{discriminator}"
            allowed = str(context.get("expected_tags", "")).replace("'", "")
            message = (
                f"unknown {discriminator} {context['tag']!r}; use one of: {allowed}"
                if problem["type"] == "union_tag_invalid"
                else f"missing; use one of: {allowed}"
            )
        elif problem["type"] == "extra_forbidden":
            message = "unknown field (check the spelling against the catalogue reference, docs/models.md)"
        lines.append(f"  - {where + ', ' if where else ''}field '{field}': {message}")
    return "\n".join(lines)

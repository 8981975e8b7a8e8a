"""The catalogue's judging section: which model judges the tags, and the optional guard and reward models.

Judges are configured apart from generators: judging needs no raw completion, so any chat endpoint serves,
including hosted chat APIs, and a strong judge can rate a small generator's output.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from magpie_dagster.domain.config_model import Strict
from magpie_dagster.domain.engine_config import (
    LlamaCppConnection,
    OpenAIConnection,
    ServerUrls,
    VllmConnection,
)
from magpie_dagster.domain.tagging.language import DEFAULT_CANDIDATES, unknown_language_codes
from magpie_dagster.domain.tagging.tags import JUDGED_TAGS, TAGS, prompt_versions_of


class _JudgeBase(Strict):
    tags: tuple[str, ...] = JUDGED_TAGS
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(384, ge=16, le=8192)
    max_retries: int = Field(2, ge=0, le=10)
    constrained: bool = True  # constrain decoding to each tag's JSON schema where the engine can
    max_failure_rate: float = Field(0.2, ge=0.0, le=1.0)  # the asset check's threshold per tag
    # One label on at least this share of a partition's rows flags the tag as degenerate (a warning check).
    max_label_share: float = Field(0.9, gt=0.0, le=1.0)
    batch_size: int = Field(16, ge=1, le=100_000)
    # A prompt version per tag, e.g. {category: category-v1}; tags not named use the project's current version.
    prompts: dict[str, str] = Field(default_factory=dict)

    @field_validator("prompts")
    @classmethod
    def _known_prompts(cls, prompts: dict[str, str]) -> dict[str, str]:
        for tag, version in prompts.items():
            if tag not in JUDGED_TAGS:
                raise ValueError(f"prompts: unknown tag {tag!r}; judged tags are: {', '.join(JUDGED_TAGS)}")
            if version not in prompt_versions_of(tag):
                raise ValueError(
                    f"prompts.{tag}: unknown version {version!r}; versions: {', '.join(prompt_versions_of(tag))}"
                )
        return prompts

    def prompt_version(self, tag: str) -> str:
        return self.prompts.get(tag) or TAGS[tag].prompt.version

    @field_validator("tags")
    @classmethod
    def _known_tags(cls, tags: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(tags) - set(JUDGED_TAGS))
        if unknown:
            raise ValueError(f"unknown tag(s) {', '.join(unknown)}; judged tags are: {', '.join(JUDGED_TAGS)}")
        return tags


class LlamaCppJudge(_JudgeBase, LlamaCppConnection):
    pass


class VllmJudge(_JudgeBase, VllmConnection):
    pass


class OpenAIJudge(_JudgeBase, OpenAIConnection):
    pass


JudgeEntry = Annotated[LlamaCppJudge | VllmJudge | OpenAIJudge, Field(discriminator="engine")]


class _GuardBase(Strict):
    max_tokens: int = Field(32, ge=4, le=512)
    max_failure_rate: float = Field(0.2, ge=0.0, le=1.0)
    batch_size: int = Field(16, ge=1, le=100_000)


class LlamaCppGuard(_GuardBase, LlamaCppConnection):
    pass


class VllmGuard(_GuardBase, VllmConnection):
    pass


class OpenAIGuard(_GuardBase, OpenAIConnection):
    structured_output: Literal["json_schema", "json_object", "none"] = "none"


GuardEntry = Annotated[LlamaCppGuard | VllmGuard | OpenAIGuard, Field(discriminator="engine")]


class RewardModelEntry(Strict):
    """A reward model served by vLLM (`vllm serve <model>`), scored through its /pooling endpoint."""

    kind: Literal["reward_model"]
    model: str = Field(min_length=1)
    base_url: ServerUrls  # one server, or replicas
    api_key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timeout_s: float = Field(120.0, gt=0)
    max_concurrency: int = Field(8, ge=1, le=1024)
    license: str | None = None  # the model's licence as the Hugging Face Hub spells it


class JudgeScoreEntry(Strict):
    """Reward as an LLM-as-judge score (1-10) from the catalogue's `judge`."""

    kind: Literal["judge_score"]


RewardEntry = Annotated[RewardModelEntry | JudgeScoreEntry, Field(discriminator="kind")]


class ClassifierEntry(Strict):
    """Judged tags answered by an embedding classifier (the nearest class centroid of a hand-labelled set) instead
    of the LLM judge: the CPU default, since the packaged 135M judge does no better than a constant on difficulty
    and quality. `labels`: `packaged` (the project's set, eval_set.jsonl) or a JSON-lines file of your own in
    the same format (id, instruction, task_category, difficulty, input_quality); a relative path is read from the
    catalogue's folder."""

    tags: tuple[str, ...] = JUDGED_TAGS
    embedder: str = Field("packaged:all-minilm-l6-v2", min_length=1)  # or a sentence-transformers folder
    labels: str = Field("packaged", min_length=1)
    batch_size: int = Field(64, ge=1, le=100_000)
    license: str | None = None  # the embedder's licence; the packaged one's is known (apache-2.0)

    @field_validator("tags")
    @classmethod
    def _known_tags(cls, tags: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(tags) - set(JUDGED_TAGS))
        if unknown or not tags:
            named = ", ".join(unknown) or "(none given)"
            raise ValueError(f"unknown tag(s) {named}; the classifier answers: {', '.join(JUDGED_TAGS)}")
        return tags


class Judging(Strict):
    judge: JudgeEntry
    classifier: ClassifierEntry | None = None
    safety: GuardEntry | None = None
    reward: RewardEntry | None = None
    language: bool = True
    # ISO 639-1 codes the language detector chooses among, or ["all"] for all 75 it knows.
    language_candidates: tuple[str, ...] = DEFAULT_CANDIDATES

    @model_validator(mode="after")
    def _one_tagger_per_tag(self) -> Judging:
        if self.classifier is None or "tags" not in self.judge.model_fields_set:
            return self
        both = [tag for tag in self.judge.tags if tag in self.classifier.tags]
        if both:
            raise ValueError(
                f"judge.tags and classifier.tags both name {', '.join(both)}: each tag has one tagger; drop it from "
                "one of them (the judge answers the judged tags the classifier does not)"
            )
        return self

    @property
    def judge_tags(self) -> tuple[str, ...]:
        """The tags the LLM judge answers: its own, less the classifier's."""
        taken = self.classifier.tags if self.classifier else ()
        return tuple(tag for tag in self.judge.tags if tag not in taken)

    @property
    def judge_answers(self) -> bool:
        """Whether the LLM judge is asked anything: a tag, or the reward's 1-10 score."""
        return bool(self.judge_tags) or isinstance(self.reward, JudgeScoreEntry)

    @property
    def judged_tags(self) -> tuple[str, ...]:
        """Every judged tag answered tonight, by the judge or the classifier."""
        return (*self.judge_tags, *(self.classifier.tags if self.classifier else ()))

    @field_validator("language_candidates")
    @classmethod
    def _known_languages(cls, codes: tuple[str, ...]) -> tuple[str, ...]:
        unknown = unknown_language_codes(codes)
        if unknown or not codes:
            raise ValueError(f"unknown ISO 639-1 code(s) {', '.join(unknown) or '(none given)'}; e.g. en, zh, es")
        return codes

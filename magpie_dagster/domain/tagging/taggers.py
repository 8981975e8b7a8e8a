"""The taggers a catalogue's `judging` section asks for: each a batch function from `JudgeItem`s to `TagResult`s,
the same shape for an LLM judge, the embedding classifier, the offline language detector, a safety guard and a
reward model, so the tagging stage stores and counts them all the same way.

Models are opened through the callables the caller passes (the Dagster layer's engine resource, which opens each
once per run), and only on the first batch that needs them: a fully cached partition loads no model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, Protocol

from magpie_dagster.domain.completion import GenerationEngine, SamplingParams
from magpie_dagster.domain.engine_config import Connection
from magpie_dagster.domain.streaming import in_batches
from magpie_dagster.domain.tagging.classifier_tagger import EmbeddingTagger, OpenEmbedder
from magpie_dagster.domain.tagging.config import Judging, RewardModelEntry
from magpie_dagster.domain.tagging.evaluation import LabelledSet, TagScore
from magpie_dagster.domain.tagging.judge import JudgeItem, TagResult, judge_stream
from magpie_dagster.domain.tagging.language import LANGUAGE_DETECTOR, detect_languages
from magpie_dagster.domain.tagging.safety import SAFETY_TAG
from magpie_dagster.domain.tagging.tagging import TagVersion
from magpie_dagster.domain.tagging.tags import TAGS, TagSpec, spec_with_prompt

REWARD_MODEL_PROTOCOL = "vllm-pooling-v1"
# Rows per stored batch where no LLM sets the pace: the detector takes ~0.5 ms a row; the reward client keeps
# its own limit of requests in flight.
LANGUAGE_BATCH_SIZE = 256
REWARD_MODEL_BATCH_SIZE = 64


class RewardScorer(Protocol):
    def score(self, items: Sequence[tuple[str, str, str]]) -> list[Any]:
        """(conversation_id, instruction, response) -> one score per item with `score` and `error`."""


OpenEngine = Callable[[str, Connection], GenerationEngine]  # (label: judge / safety, its connection)
OpenRewardModel = Callable[[RewardModelEntry], RewardScorer]


@dataclass(frozen=True)
class Tagger:
    version: TagVersion
    batches: Callable[[Sequence[JudgeItem]], Iterator[list[TagResult]]]
    """The items' results, a committed batch at a time as they finish (an LLM judge's one stream through its
    engine; the classifier, the detector and the reward client a batch per call)."""
    held_out: Callable[[], TagScore | None] | None = None
    """The classifier's score on its labelled set, held out (None until this run fitted it); None for the rest."""


@dataclass(frozen=True)
class Openers:
    """How the taggers open their models, each on the first batch that needs it (the caller caches them)."""

    engine: OpenEngine
    reward_model: OpenRewardModel
    embedder: OpenEmbedder


def taggers(judging: Judging, openers: Openers, labelled: LabelledSet | None = None) -> list[Tagger]:
    """`labelled`: the classifier's labelled set (loaded by the caller), when the catalogue has a classifier."""
    judge = judging.judge
    open_engine = openers.engine
    judge_sampling = SamplingParams(temperature=judge.temperature, max_tokens=judge.max_tokens)

    def by_judge(spec: TagSpec) -> Tagger:
        return _llm_tagger(spec, "judge", judge, open_engine, judge_sampling, judge.max_retries, judge.constrained,
                           judge.batch_size)  # fmt: skip

    found = [by_judge(spec_with_prompt(judge.prompt_version(tag))) for tag in judging.judge_tags]
    if judging.classifier is not None:
        if labelled is None:
            raise ValueError("judging.classifier needs its labelled set: pass `labelled`")
        found += _classifier_taggers(EmbeddingTagger(judging.classifier, labelled, openers.embedder))
    if judging.language:
        found.append(_language_tagger(judging.language_candidates))
    if judging.safety is not None:
        guard = judging.safety
        guard_sampling = SamplingParams(temperature=0.0, max_tokens=guard.max_tokens)
        found.append(_llm_tagger(SAFETY_TAG, "safety", guard, open_engine, guard_sampling, 1, False, guard.batch_size))
    if isinstance(judging.reward, RewardModelEntry):
        found.append(_reward_model_tagger(judging.reward, openers.reward_model))
    elif judging.reward is not None:
        found.append(by_judge(TAGS["reward"]))
    return found


def _llm_tagger(
    spec: TagSpec,
    label: str,
    connection: Connection,
    open_engine: OpenEngine,
    sampling: SamplingParams,
    max_retries: int,
    constrained: bool,
    batch_size: int,
) -> Tagger:
    def batches(items: Sequence[JudgeItem]) -> Iterator[list[TagResult]]:
        if not items:
            return
        engine = open_engine(label, connection)
        finished = judge_stream(
            engine, items, spec, chunk=batch_size, max_retries=max_retries, sampling=sampling, constrained=constrained
        )
        yield from in_batches((result for _, result in finished), batch_size)

    return Tagger(TagVersion(spec.name, connection.model, spec.prompt.version), batches)


def _classifier_taggers(classifier: EmbeddingTagger) -> list[Tagger]:
    """One tagger per tag the classifier owns, sharing its fit and its embedding of each instruction."""

    def tagger(tag: str) -> Tagger:
        def held_out() -> TagScore | None:
            return classifier.held_out(tag) if classifier.fitted else None

        run = _a_call_per_batch(lambda items: classifier.tag(tag, items), classifier.entry.batch_size)
        return Tagger(classifier.version(tag), run, held_out)

    return [tagger(tag) for tag in classifier.entry.tags]


def _language_tagger(candidates: tuple[str, ...]) -> Tagger:
    tag_version = TagVersion(
        "language", LANGUAGE_DETECTOR, f"lingua-{version('lingua-language-detector')}:{','.join(candidates)}"
    )

    def run(items: Sequence[JudgeItem]) -> list[TagResult]:
        codes = detect_languages([item.instruction for item in items], candidates)
        return [
            tag_version.untokened_result(item.conversation_id, {"language": code}, code)
            for item, code in zip(items, codes, strict=True)
        ]

    return Tagger(tag_version, _a_call_per_batch(run, LANGUAGE_BATCH_SIZE))


def _reward_model_tagger(entry: RewardModelEntry, open_reward_model: OpenRewardModel) -> Tagger:
    tag_version = TagVersion("reward", entry.model, REWARD_MODEL_PROTOCOL)

    def run(items: Sequence[JudgeItem]) -> list[TagResult]:
        scores = open_reward_model(entry).score(
            [(item.conversation_id, item.instruction, item.response) for item in items]
        )
        return [
            tag_version.untokened_result(
                score.conversation_id,
                {"instruct_reward": score.score} if score.error is None else None,
                "" if score.score is None else str(score.score),
                score.error,
            )
            for score in scores
        ]

    return Tagger(tag_version, _a_call_per_batch(run, REWARD_MODEL_BATCH_SIZE))


def _a_call_per_batch(run: Callable[[Sequence[JudgeItem]], list[TagResult]], batch_size: int):
    def batches(items: Sequence[JudgeItem]) -> Iterator[list[TagResult]]:
        for start in range(0, len(items), batch_size):
            yield run(items[start : start + batch_size])

    return batches

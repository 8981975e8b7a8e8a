"""The tag jobs a catalogue's `judging` section asks for, each as a batch function over `JudgeItem`s.

Glue only: LLM tags call `judge_items`, language calls the offline detector, reward-model scores call the
pooling client; all return `TagResult`s so the asset stores and counts them the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version

from magpie_dagster.defs.resources import EngineResource
from magpie_dagster.domain.completion import SamplingParams
from magpie_dagster.domain.judge_config import Judging, RewardModelEntry
from magpie_dagster.domain.judging.judge import JudgeItem, TagResult, judge_items
from magpie_dagster.domain.judging.language import LANGUAGE_DETECTOR, detect_languages
from magpie_dagster.domain.judging.safety import SAFETY_TAG
from magpie_dagster.domain.judging.tagging import TagJob
from magpie_dagster.domain.judging.tags import TAGS, TagSpec, spec_with_prompt

REWARD_MODEL_PROTOCOL = "vllm-pooling-v1"


@dataclass
class RunnableTagJob:
    job: TagJob
    batch_size: int
    run: Callable[[Sequence[JudgeItem]], list[TagResult]]


def tag_jobs(judging: Judging, engines: EngineResource) -> list[RunnableTagJob]:
    """Engines open lazily, on the first batch that needs them, so a fully cached partition loads no model."""
    judge = judging.judge
    sampling = SamplingParams(temperature=judge.temperature, max_tokens=judge.max_tokens)

    def judge_job(spec: TagSpec) -> RunnableTagJob:
        return _llm_job(spec, "judge", judge, engines, sampling, judge.max_retries, judge.constrained, judge.batch_size)

    jobs = [judge_job(spec_with_prompt(judge.prompt_version(tag))) for tag in judge.tags]
    if judging.language:
        candidates = judging.language_candidates
        job = TagJob(
            "language",
            LANGUAGE_DETECTOR,
            f"lingua-{version('lingua-language-detector')}:{','.join(candidates)}",
        )
        jobs.append(RunnableTagJob(job, 256, lambda items, job=job: _languages(job, items, candidates)))
    if judging.safety is not None:
        guard = judging.safety
        guard_sampling = SamplingParams(temperature=0.0, max_tokens=guard.max_tokens)
        jobs.append(_llm_job(SAFETY_TAG, "safety", guard, engines, guard_sampling, 1, False, guard.batch_size))
    if isinstance(judging.reward, RewardModelEntry):
        jobs.append(_reward_model_job(judging.reward, engines))
    elif judging.reward is not None:
        jobs.append(judge_job(TAGS["reward"]))
    return jobs


def _llm_job(spec: TagSpec, label, connection, engines, sampling, max_retries, constrained, batch_size):
    job = TagJob(spec.name, connection.model, spec.prompt.version)

    def run(items: Sequence[JudgeItem]) -> list[TagResult]:
        engine = engines.engine_named(label, connection)
        return judge_items(engine, items, spec, max_retries=max_retries, sampling=sampling, constrained=constrained)

    return RunnableTagJob(job, batch_size, run)


def _languages(job: TagJob, items: Sequence[JudgeItem], candidates: tuple[str, ...]) -> list[TagResult]:
    codes = detect_languages([item.instruction for item in items], candidates)
    return [
        TagResult(
            item.conversation_id,
            "language",
            {"language": code},
            code,
            None,
            1,
            0,
            0,
            LANGUAGE_DETECTOR,
            job.prompt_version,
            False,
        )
        for item, code in zip(items, codes, strict=True)
    ]


def _reward_model_job(entry: RewardModelEntry, engines: EngineResource) -> RunnableTagJob:
    job = TagJob("reward", entry.model, REWARD_MODEL_PROTOCOL)

    def run(items: Sequence[JudgeItem]) -> list[TagResult]:
        client = engines.reward_model(entry)  # opened once per run, closed by the resource
        scores = client.score([(item.conversation_id, item.instruction, item.response) for item in items])
        return [
            TagResult(
                score.conversation_id,
                "reward",
                {"instruct_reward": score.score} if score.error is None else None,
                "" if score.score is None else str(score.score),
                score.error,
                1,
                0,
                0,
                entry.model,
                REWARD_MODEL_PROTOCOL,
                False,
            )
            for score in scores
        ]

    return RunnableTagJob(job, 64, run)

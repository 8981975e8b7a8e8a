"""The template probe: a few instructions measured before a partition spends its budget.

A wrong pre-query template does not fail loudly: the model still writes, just not user queries. It echoes role
headers it does not use, reasons aloud (a thinking template left on), ends its turn at once, or runs to
max_tokens. The first `samples` instructions of a new partition are measured for those rates before anything is
stored; a rate past its limit fails the partition with what was seen and what to change. The same report is
what `magpie-dagster probe --model KEY` prints.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from magpie_dagster.domain.generation.config import ProbeSettings
from magpie_dagster.domain.generation.instructions import InstructionRecord
from magpie_dagster.domain.tagging.language import UNDETERMINED, detect_languages

# What reasoning models write before an answer: a user query never starts like this.
REASONING_MARKERS = ("<think>", "</think>", "<|channel|>analysis")
EXAMPLES_SHOWN = 3
_EXAMPLE_CHARS = 120


@dataclass(frozen=True)
class Sign:
    """One sign of a wrong template: how many samples showed it, its limit, and what to change when past it."""

    name: str
    count: int
    limit: float
    advice: str


@dataclass(frozen=True)
class ProbeReport:
    model_key: str
    template: str
    samples: int
    signs: tuple[Sign, ...]
    languages: dict[str, int] = field(default_factory=dict)
    examples: tuple[str, ...] = ()

    def share(self, sign: Sign) -> float:
        return sign.count / self.samples if self.samples else 0.0

    @property
    def failed_signs(self) -> list[Sign]:
        return [sign for sign in self.signs if self.share(sign) > sign.limit]

    @property
    def passed(self) -> bool:
        return not self.failed_signs

    def render(self) -> str:
        verdict = "passed" if self.passed else "FAILED: " + ", ".join(sign.name for sign in self.failed_signs)
        lines = [f"template probe of {self.model_key!r} (template {self.template}), {self.samples} samples: {verdict}"]
        for sign in self.signs:
            mark = "  <- over the limit" if sign in self.failed_signs else ""
            lines.append(
                f"  {sign.name}: {sign.count}/{self.samples} ({self.share(sign):.0%}, limit {sign.limit:.0%}){mark}"
            )
        lines.append("  languages: " + (", ".join(f"{code} {n}" for code, n in self.languages.items()) or "none"))
        lines.extend(f"  sample: {example!r}" for example in self.examples)
        lines.extend(f"  fix ({sign.name}): {sign.advice}" for sign in self.failed_signs)
        return "\n".join(lines)


def probe_report(
    model_key: str,
    template: str,
    records: Sequence[InstructionRecord],
    settings: ProbeSettings,
    max_tokens: int,
) -> ProbeReport:
    """The probe's verdict on a partition's first instructions (not yet stored)."""
    reasons = Counter(record.drop_reason for record in records)
    usable = [record.instruction for record in records if record.drop_reason is None]
    languages = Counter(detect_languages(usable)) if usable else Counter()
    reasoning = sum(any(marker in record.raw_instruction for marker in REASONING_MARKERS) for record in records)
    signs = (
        Sign(
            "template_echo",
            reasons["template_echo"],
            settings.max_template_echo,
            "the model wrote role headers or special tokens instead of a query: the pre-query template is not "
            "this model's. Set `template: auto` (the model's own chat template) or the model's family.",
        ),
        Sign(
            "empty",
            reasons["empty"],
            settings.max_empty,
            "the model ended the user turn at once: the template may already close the user turn, or a stop "
            "string fires at the start. Check `template` and `template_variant`.",
        ),
        Sign(
            "truncated",
            reasons["truncated"],
            settings.max_truncated,
            f"instructions ran to max_tokens ({max_tokens}): raise `instruction_sampling.max_tokens`, or the "
            "model never writes the template's end-of-turn token (a template of another family).",
        ),
        Sign(
            "reasoning",
            reasoning,
            settings.max_reasoning,
            "the model reasons instead of asking: a thinking template is on. Use the family's no-thinking "
            "variant (e.g. `template: qwen3-no-thinking`).",
        ),
        Sign(
            "no_language",
            languages[UNDETERMINED],
            settings.max_no_language,
            "usable instructions are in no language (symbols, code fragments, noise): check the template and "
            "`instruction_sampling.temperature`.",
        ),
    )
    return ProbeReport(
        model_key=model_key,
        template=template,
        samples=len(records),
        signs=signs,
        languages=dict(languages.most_common()),
        examples=tuple(record.raw_instruction[:_EXAMPLE_CHARS] for record in records[:EXAMPLES_SHOWN]),
    )

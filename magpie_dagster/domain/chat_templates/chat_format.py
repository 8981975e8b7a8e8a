"""A model's chat format as Magpie uses it: the prompt that makes it write a user turn, and the one for answers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from magpie_dagster.domain.chat_templates.derive import (
    accepts_system_turn,
    derive_stop_strings,
    pre_query_prefix,
    unique_in_order,
)
from magpie_dagster.domain.chat_templates.families import get_family
from magpie_dagster.domain.chat_templates.render import ChatTemplateError, Message, render_chat
from magpie_dagster.domain.completion import ModelChatTemplate

TemplateVariant = Literal["official", "reference"]


@dataclass(frozen=True)
class ChatFormat:
    name: str
    template: ModelChatTemplate
    pinned_date: dt.date
    stop_strings: tuple[str, ...]
    supports_system_prompt: bool
    reference_pre_query: str | None = None
    answer_stops: tuple[str, ...] | None = None  # where answers end, when not where a user turn ends (harmony)

    @property
    def answer_stop_strings(self) -> tuple[str, ...]:
        """Stops for answers: gpt-oss's answers hold several messages (`<|end|>` between them) and end at
        `<|return|>`; every other family's answers end where its user turns do."""
        return self.answer_stops or self.stop_strings

    @classmethod
    def from_family(cls, name: str, *, pinned_date: dt.date) -> ChatFormat:
        family = get_family(name)
        template = family.model_template()
        return cls(
            name=family.name,
            template=template,
            pinned_date=pinned_date,
            stop_strings=unique_in_order([*family.stop_strings, *derive_stop_strings(template, pinned_date)]),
            supports_system_prompt=accepts_system_turn(template, pinned_date),
            reference_pre_query=family.reference_pre_query,
            answer_stops=family.answer_stops,
        )

    @classmethod
    def from_model_template(cls, template: ModelChatTemplate, *, pinned_date: dt.date) -> ChatFormat:
        """`template: auto`: everything derived from the model's own template."""
        return cls(
            name="auto",
            template=template,
            pinned_date=pinned_date,
            stop_strings=derive_stop_strings(template, pinned_date),
            supports_system_prompt=accepts_system_turn(template, pinned_date),
        )

    def instruction_prompt(
        self,
        system_prompt: str | None = None,
        history: Sequence[Message] = (),
        variant: TemplateVariant = "official",
    ) -> str:
        """The pre-query template: the conversation so far plus the next user header, cut before the text.

        The reference variant only exists for a first turn without steering: the reference configs define
        nothing else, so later turns and steered prompts render the official template.
        """
        if variant == "reference" and system_prompt is None and not history:
            if self.reference_pre_query is None:
                raise ChatTemplateError(
                    f"Template family {self.name!r} has no reference pre-query template; "
                    "use `template_variant: official`."
                )
            return self.reference_pre_query
        return pre_query_prefix(self.template, self._conversation(system_prompt, history), self.pinned_date)

    def response_prompt(
        self, instruction: str, system_prompt: str | None = None, history: Sequence[Message] = ()
    ) -> str:
        """The instruction as a normal user turn, followed by the assistant's generation prompt."""
        conversation = [
            *self._conversation(system_prompt, history),
            Message(role="user", content=instruction),
        ]
        return render_chat(
            self.template, conversation, add_generation_prompt=True, pinned_date=self.pinned_date
        )

    def _conversation(self, system_prompt: str | None, history: Sequence[Message]) -> list[Message]:
        if system_prompt is None:
            return list(history)
        if not self.supports_system_prompt:
            raise ChatTemplateError(
                f"The {self.name!r} chat template has no system turn, so system prompts cannot steer it; "
                "remove `system_prompts` (or their `text`) from this catalogue entry."
            )
        return [Message(role="system", content=system_prompt), *history]

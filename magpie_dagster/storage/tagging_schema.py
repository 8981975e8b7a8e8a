"""The tagging stage's table and the analyst view over it.

`judgements` holds one row per (instruction, tag): the parsed fields as JSON text, or the raw answer and the
error when the judge failed, with the judge model and prompt version that form the re-judging cache key.
`instruction_tags` pivots it into the released datasets' columns, one row per usable instruction (its safety and
reward are of the instruction model's own answer); `answer_tags` holds the response-level tags (safety, reward) of
every answer, one row per answer, for partitions whose instructions other models answer too.
`tagger_scores` holds how good a tagger measured on held-out labels (the embedding classifier's leave-one-out on
its labelled set), beside the best constant label's score, per tag and exact tagger (model, prompt version).
"""

from __future__ import annotations

from magpie_dagster.storage.usable import usable

JUDGEMENTS = "judgements"
INSTRUCTION_TAGS_VIEW = "instruction_tags"
ANSWER_TAGS_VIEW = "answer_tags"
TAGGER_SCORES = "tagger_scores"

JUDGEMENTS_DDL = f"""
CREATE TABLE IF NOT EXISTS {JUDGEMENTS} (
    conversation_id VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    partition_date DATE NOT NULL,
    tag VARCHAR NOT NULL,
    input_hash VARCHAR NOT NULL,
    judge_model VARCHAR NOT NULL,
    prompt_version VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    fields VARCHAR,
    raw_answer VARCHAR,
    error VARCHAR,
    attempts INTEGER NOT NULL,
    constrained BOOLEAN NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
)
"""


TAGGER_SCORES_DDL = f"""
CREATE TABLE IF NOT EXISTS {TAGGER_SCORES} (
    tag VARCHAR NOT NULL,
    judge_model VARCHAR NOT NULL,
    prompt_version VARCHAR NOT NULL,
    field VARCHAR NOT NULL,
    method VARCHAR NOT NULL,
    labelled_rows INTEGER NOT NULL,
    accuracy DOUBLE NOT NULL,
    constant_label VARCHAR NOT NULL,
    constant_accuracy DOUBLE NOT NULL,
    within_one DOUBLE,
    constant_within_one DOUBLE,
    kappa DOUBLE,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
)
"""


def _tag(alias: str, tag: str, row: str = "i") -> str:
    """Joins the successful judgement of `tag` for each row of `row` (an instruction, or an answer)."""
    return f"""LEFT JOIN {JUDGEMENTS} {alias} ON {alias}.conversation_id = {row}.conversation_id
        AND {alias}.model = {row}.model AND {alias}.partition_date = {row}.partition_date
        AND {alias}.tag = '{tag}' AND {alias}.status = 'ok'"""


def _answer_columns(safety: str, reward: str) -> str:
    """The response-level tags' columns, from the safety and reward judgements joined as `safety` and `reward`."""
    return f"""
    {safety}.fields::JSON ->> 'safety' AS safety,
    from_json({safety}.fields::JSON -> 'safety_categories', '["VARCHAR"]') AS safety_categories,
    {safety}.judge_model AS safety_generator,
    CAST({reward}.fields::JSON ->> 'instruct_reward' AS DOUBLE) AS instruct_reward,
    {reward}.judge_model AS reward_model"""


INSTRUCTION_TAGS_DDL = f"""
CREATE OR REPLACE VIEW {INSTRUCTION_TAGS_VIEW} AS
SELECT
    i.conversation_id, i.model, i.partition_date, i.instruction,
    d.fields::JSON ->> 'intent' AS intent,
    d.fields::JSON ->> 'knowledge' AS knowledge,
    d.fields::JSON ->> 'difficulty' AS difficulty,
    d.judge_model AS difficulty_generator,
    q.fields::JSON ->> 'quality_explanation' AS quality_explanation,
    q.fields::JSON ->> 'input_quality' AS input_quality,
    q.judge_model AS quality_generator,
    c.fields::JSON ->> 'task_category' AS task_category,
    from_json(c.fields::JSON -> 'other_task_category', '["VARCHAR"]') AS other_task_category,
    c.judge_model AS task_category_generator,
    l.fields::JSON ->> 'language' AS language,{_answer_columns("s", "r")},
    coalesce((SELECT list(f.tag ORDER BY f.tag) FROM {JUDGEMENTS} f
        WHERE f.conversation_id = i.conversation_id AND f.model = i.model
        AND f.partition_date = i.partition_date AND f.status = 'failed'), []::VARCHAR[]) AS failed_tags
FROM instructions i
{_tag("d", "difficulty")}
{_tag("q", "quality")}
{_tag("c", "category")}
{_tag("l", "language")}
{_tag("s", "safety")}
{_tag("r", "reward")}
WHERE {usable('i')}
"""


ANSWER_TAGS_DDL = f"""
CREATE OR REPLACE VIEW {ANSWER_TAGS_VIEW} AS
SELECT
    r.conversation_id, r.instruction_id, r.response_model, r.model, r.partition_date,{_answer_columns("s", "w")}
FROM responses r
{_tag("s", "safety", row="r")}
{_tag("w", "reward", row="r")}
WHERE {usable('r')}
"""

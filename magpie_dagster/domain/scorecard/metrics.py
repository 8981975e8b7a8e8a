"""The scorecard's numbers, named once: the table's columns, the asset's metadata (Dagster plots them across nights),
the drift bands' keys, the dataset card's rows and docs/scorecard.md all read these."""

from __future__ import annotations

# The numbers trended across nights (one per model and night, and the night's totals), with what each measures.
TRENDED: dict[str, str] = {
    "instructions": "instructions generated",
    "usable_rate": "share of generated instructions that are usable (no drop reason)",
    "template_leak_rate": "share of generated instructions that echo the chat template (drop reason template_echo)",
    "looping_rate": "share of generated instructions and responses that loop (drop reason looping)",
    "truncation_rate": "share of generated instructions and responses cut at max_tokens (drop reason truncated)",
    "near_duplicate_rate": "share of usable instructions with a near-duplicate from the same night",
    "corpus_duplicate_rate": "share of usable instructions with a near-duplicate from an earlier night",
    "curated_rows": "rows in the curated subset",
    "diversity_vendi": "Vendi score of the curated instructions' embeddings: their effective number of distinct rows",
    "category_entropy": "Shannon entropy (bits) of the curated rows' task categories",
    "category_mix_distance": "summed share of the curated rows outside the recipe's category bounds (none: no mix)",
    "contamination_rate": "share of the answered usable instructions that repeat a benchmark prompt (decontamination)",
    "judge_failure_rate": "share of the night's judgements that failed (every tag)",
    "judge_kappa_min": "the lowest Cohen's kappa over the tags between the judge and the second judge",
    "safety_flag_rate": "share of judged answers the safety judge flagged unsafe",
    "chosen_longer_share": "share of preference pairs whose chosen answer is longer than the rejected (length bias)",
    "instruction_chars_median": "median length (characters) of the curated instructions",
    "response_chars_median": "median length (characters) of the curated responses",
}
COUNTS = ("instructions", "curated_rows")  # whole numbers; the rest are shares, scores and lengths
# Distributions, label -> count or share, stored as MAP columns.
DISTRIBUTIONS: dict[str, str] = {
    "instruction_drop_reasons": "generated instructions by drop reason",
    "response_drop_reasons": "generated responses by drop reason",
    "task_category_shares": "curated rows by task category",
    "difficulty_shares": "curated rows by difficulty",
    "input_quality_shares": "curated rows by input quality",
    "language_shares": "curated rows by language",
    "contamination_by_benchmark": "answered usable instructions repeating a prompt of each benchmark",
    "judge_failure_rates": "failed share of the night's judgements, per tag",
    "judge_agreement": "share of the second judge's sample given the same label as the judge's, per tag",
    "judge_kappa": "Cohen's kappa between the judge and the second judge per tag (quadratic-weighted: ordinal)",
    "top_label_shares": "share of the most frequent label per judged tag (label degeneracy), over usable rows",
    "tagger_held_out_accuracy": (
        "accuracy of the tagger that labelled the night on labels it never saw, per tag column (the embedding "
        "classifier's leave-one-out on its labelled set; absent for an LLM judge: run eval-judge)"
    ),
    "tagger_constant_accuracy": "the best constant label's accuracy on the same labelled set, per tag column",
}
ALL_MODELS = "*"  # the `model` of the night's totals row

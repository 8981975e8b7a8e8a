"""Generation engines behind `magpie_dagster.domain.completion.GenerationEngine`."""

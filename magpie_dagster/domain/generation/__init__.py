"""Magpie generation: the sampling plan and seeds, the generator's chat format, instructions from the pre-query
template, their sanitiser, responses, and the progress of a long generation."""

"""Costs: every engine call metered to its partition (tokens, seconds, money), and projections of a plan's
time and cost."""

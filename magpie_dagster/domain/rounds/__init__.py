"""Row targets: a night generated in rounds, each sized by the yield measured so far, until the target, the
budget or the round limit."""

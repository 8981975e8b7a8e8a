"""A night's scorecard: what each model made that night, in numbers trended across nights, and the drift check."""

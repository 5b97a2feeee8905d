"""The operations overview: the nightly roll-up, every figure with how it is computed, its charts, its page,
JSON and API."""

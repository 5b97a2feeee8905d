"""The redemptions app's part of the API under /api/v1/: :mod:`.urls` includes each domain's endpoints.

The views live with their domain (:mod:`redemptions.counter.api`, :mod:`redemptions.attribution.api`).
"""

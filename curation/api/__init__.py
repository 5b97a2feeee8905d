"""The curation app's part of the API under /api/v1/: :mod:`.urls` includes each domain's endpoints.

The views live with their domain (:mod:`curation.intake.api`, :mod:`curation.standing.api`, :mod:`curation.ops.api`).
"""

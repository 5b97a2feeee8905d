"""Production settings with the floor URLconf of ``floor.py`` (``run.py --floor`` only)."""

from redcard.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.redemption.floor"

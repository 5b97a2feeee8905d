"""The embedded default for a laptop: DEBUG on, SQLite unless DATABASE_URL is set."""

from .base import *  # noqa: F403
from .base import env_bool

DEBUG = env_bool("DEBUG", True)

"""Settings package: ``dev`` (the embedded default), ``production`` and ``test``."""

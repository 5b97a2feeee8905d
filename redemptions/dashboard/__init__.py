"""The merchant owner's dashboard pages (figures, CSV exports, the note invitation after a visit)."""

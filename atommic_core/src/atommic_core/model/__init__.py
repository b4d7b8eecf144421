"""Model base class and its life cycle (archive, artifacts, nesting, freezing)."""

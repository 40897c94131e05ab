"""pytest hooks for pytest-stability (placeholder until the plugin issue)."""

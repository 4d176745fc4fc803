"""Zoo recipes: text (being built)."""

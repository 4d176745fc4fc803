"""Zoo recipes: speech (being built)."""

"""Zoo recipes: moe (being built)."""

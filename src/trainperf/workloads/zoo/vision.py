"""Zoo recipes: vision (being built)."""

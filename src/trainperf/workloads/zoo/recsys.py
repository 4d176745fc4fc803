"""Zoo recipes: recsys (being built)."""

"""Zoo recipes: cnn (being built)."""

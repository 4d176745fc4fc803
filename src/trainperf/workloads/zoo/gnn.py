"""Zoo recipes: gnn (being built)."""

"""Zoo recipes: diffusion (being built)."""

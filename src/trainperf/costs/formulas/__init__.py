"""Formula modules; each registers its ops on import."""

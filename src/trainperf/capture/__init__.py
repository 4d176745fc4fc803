"""Capture one training step as an OpGraph (no GPU, no real memory). See capture.api."""

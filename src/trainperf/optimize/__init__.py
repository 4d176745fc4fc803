"""Optimization: choose what to run. `search` finds the fastest parallel layout that fits (analytic, no
torch); `device` measures single-device settings on the local CPU or GPU. Import from the submodules."""

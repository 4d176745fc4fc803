"""Exports of a simulated step to other tools' formats (Chakra execution traces for ASTRA-sim)."""

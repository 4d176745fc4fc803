"""Rendering: terminal tables, JSON, and a self-contained HTML file. Only this package prints."""

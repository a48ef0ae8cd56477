"""autonomo: one autonomous agent brain, many bodies."""

__version__ = "0.1.0"

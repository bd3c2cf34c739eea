"""The package version (a leaf module: anything may import it without importing emofusion.load's
dependencies through the package root)."""

__version__ = "0.1.0"

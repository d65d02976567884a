"""mallsense: shopping-mall traffic and touchpoint sensing."""

__version__ = "0.1.0"

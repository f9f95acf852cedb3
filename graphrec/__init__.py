"""graphrec: explainable product recommendations from a knowledge graph."""

__version__ = "0.1.0"

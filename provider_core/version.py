"""provider-core's version, in a module of its own so that the core's modules can name it
without importing the package face (``provider_core.__version__`` is the same string)."""

__version__ = "0.1.0"

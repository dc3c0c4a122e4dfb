"""divalto-sdk: the Python SDK and connector for the Divalto infinity ERP."""

__version__ = "0.1.0"

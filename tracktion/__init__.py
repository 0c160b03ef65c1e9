"""tracktion: a self-hosted server speaking Synerise's event-ingestion API."""

__version__ = "0.1.0"

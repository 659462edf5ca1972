"""Service functions: the use cases. The API, CLI and console are thin shells over these."""

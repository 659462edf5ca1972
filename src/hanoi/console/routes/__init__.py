"""The console's pages, one module per area; each handler calls service functions only."""

"""The REST API under ``/api/v1``: a thin shell over the wings' use cases and the node platform."""

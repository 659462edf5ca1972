"""The models of the API's bodies, by resource: what partners generate clients from.

They describe what the routes accept and return (``api/openapi.py`` puts them in the OpenAPI
document); where a route takes its body as a plain object, the domain still validates it and
names the article behind every problem, so these models add no check of their own there.
"""

"""The HTTP layer: Starlette app, routes, middleware, the webhook sender, the CLI."""

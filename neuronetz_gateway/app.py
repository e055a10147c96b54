"""create_app(runtime): the BlackSheep application; one fallback route dispatches everything."""

from __future__ import annotations

from blacksheep import Application, Content, Request, Response
from blacksheep.server.routing import Router

from neuronetz_gateway.errors import GatewayError, not_found
from neuronetz_gateway.routes import ROUTES
from neuronetz_gateway.runtime import Runtime


def error_response(error: GatewayError, path: str) -> Response:
    """Render a GatewayError in the shape of the surface `path` belongs to."""
    headers = [(b"Retry-After", str(error.retry_after).encode())] if error.retry_after else []
    body = error.body(openai_shape=path.startswith("/v1/") or path == "/v1")
    return Response(error.status, headers, Content(b"application/json", body))


def create_app(runtime: Runtime) -> Application:
    """Build the application; every request goes through `dispatch`.

    BlackSheep runs no middleware on unmatched paths and fills a process-wide router from its
    decorators, so the app gets a private Router whose only entry is the fallback.
    """
    app = Application(router=Router(), show_error_details=False)
    # BlackSheep also reads APP_SHOW_ERROR_DETAILS from the environment: tracebacks never leave.
    app.show_error_details = False

    async def dispatch(request: Request) -> Response:
        path = request.path
        methods = ROUTES.get(path)
        if methods is None:
            return error_response(not_found(), path)
        handler = methods.get(request.method)
        if handler is None:
            error = GatewayError(405, "method_not_allowed", f"method {request.method} not allowed")
            return error_response(error, path)
        try:
            return await handler(request, runtime)
        except GatewayError as error:
            return error_response(error, path)

    app.router.fallback = dispatch
    return app

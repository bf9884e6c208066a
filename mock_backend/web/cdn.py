"""A stand-in for NemoVideo's CDN: the files behind ``cdn_url`` of uploads and renders' URLs.

These URLs are not product operations (the real ones live on another host and are signed), so
they are not in openapi.yaml; like a signed CDN URL they need no token, and never carry one.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from ..backend import Backend
from ..errors import ApiError
from ..namespaces import backend_of
from ..openapi.envelope import error_response

__all__ = ["cdn_routes"]


def _backend(request: Request) -> Backend:
    return backend_of(request)


async def uploaded_file(request: Request) -> Response:
    backend = _backend(request)
    upload = backend.store.find_upload(request.path_params["file_id"])
    if upload is None or upload.path is None or upload.path.name != request.path_params["name"]:
        return _missing(backend, "no uploaded file at this address")
    return FileResponse(upload.path)


async def rendered_file(request: Request) -> Response:
    backend = _backend(request)
    record = backend.store.get_render(request.path_params["render_id"])
    if (
        record is None
        or record.out_path is None
        or record.out_path.name != request.path_params["name"]
    ):
        return _missing(backend, "no rendered file at this address")
    status, _, _ = backend.renders.status(record)
    if status != "completed":
        return _missing(backend, f"the render is {status}")
    try:
        # a completed job's file may still be encoding (virtual time outran it): wait, bounded
        path, content_type = await backend.renders.output_file(record)
    except ApiError as error:  # the encode failed, or outlasted the wait
        return error_response(error, backend.profile)
    return FileResponse(path, media_type=content_type)


def _missing(backend: Backend, why: str) -> JSONResponse:
    return error_response(ApiError(404, f"{why}; poll the render or upload again"), backend.profile)


def cdn_routes() -> list[Route]:
    return [
        Route("/cdn/renders/{render_id}/{name}", rendered_file, methods=["GET", "HEAD"]),
        Route("/cdn/{file_id}/{name}", uploaded_file, methods=["GET", "HEAD"]),
    ]

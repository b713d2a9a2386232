"""Request bodies read into memory under a byte limit: a raw image, or a multipart form.

Starlette's own form parser spools files over 1 MiB to a temporary file; the service writes no
file from a request, so multipart bodies are parsed here, in memory, with python-multipart's
streaming parser, after the body has been read under the limit (413 as soon as it is passed).
"""

from __future__ import annotations

from collections import defaultdict

from starlette.requests import Request

from facetrust.serve.limits import RequestRefused, too_large_message

FORM_OVERHEAD = 64 * 1024  # boundaries, part headers and small text fields around the files


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole body, refused with 413 once it passes ``max_bytes`` (declared or actual length)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise RequestRefused(413, too_large_message(max_bytes))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise RequestRefused(413, too_large_message(max_bytes))
        chunks.append(chunk)
    return b"".join(chunks)


def parse_multipart(body: bytes, content_type: str) -> dict[str, list[bytes]]:
    """Fields of a multipart/form-data body: name -> list of values (bytes), in order."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise RequestRefused(422, "multipart body without a boundary in its Content-Type header")
    fields: dict[str, list[bytes]] = defaultdict(list)
    state: dict[str, object] = {"header": b"", "value": b"", "name": None, "data": []}

    def on_part_begin() -> None:
        state.update(name=None, data=[])

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["header"] = bytes(state["header"]) + data[start:end]  # type: ignore[operator]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] = bytes(state["value"]) + data[start:end]  # type: ignore[operator]

    def on_header_end() -> None:
        if bytes(state["header"]).lower() == b"content-disposition":  # type: ignore[arg-type]
            _, params = parse_options_header(bytes(state["value"]))  # type: ignore[arg-type]
            name = params.get(b"name")
            state["name"] = name.decode("utf-8", "replace") if name is not None else None
        state.update(header=b"", value=b"")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        state["data"].append(data[start:end])  # type: ignore[union-attr]

    def on_part_end() -> None:
        if state["name"] is not None:
            fields[str(state["name"])].append(b"".join(state["data"]))  # type: ignore[arg-type]

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_part_data": on_part_data, "on_part_end": on_part_end,
    })
    try:
        parser.write(body)
        parser.finalize()
    except Exception as err:  # python-multipart raises its own MultipartParseError types
        raise RequestRefused(422, f"malformed multipart body: {err}") from err
    return dict(fields)


async def read_form_or_raw(request: Request, max_bytes: int, files: int = 1) -> dict[str, list[bytes]] | bytes:
    """A multipart form (dict) when the request says so, else the raw body (bytes)."""
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        body = await read_body(request, files * max_bytes + FORM_OVERHEAD)
        return parse_multipart(body, content_type)
    return await read_body(request, max_bytes)


def one_file(form: dict[str, list[bytes]], name: str) -> bytes:
    values = form.get(name)
    if not values:
        present = ", ".join(sorted(form)) or "none"
        raise RequestRefused(422, f"the form has no field {name!r} (fields sent: {present})")
    if len(values) > 1:
        raise RequestRefused(422, f"the form field {name!r} was sent {len(values)} times; send one image")
    return values[0]

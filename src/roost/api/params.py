"""One parameter layer for every endpoint.

Mastodon clients send the same parameters as a query string, a urlencoded form, a
multipart form or a JSON body, and spell arrays and hashes with Rails' bracket keys
(`media_ids[]=1`, `poll[options][]=a`, `fields_attributes[0][name]=x`). `read_params`
merges all of them into one nested dict (body over query), and `parse` validates it
against a pydantic model, turning every problem into a 422 in Mastodon's format.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

import orjson
from fastapi import Request
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import ErrorDetails
from starlette.datastructures import UploadFile

from roost.errors import ApiError

Model = TypeVar("Model", bound=BaseModel)

MAX_BODY_BYTES = 1 << 20  # non-file bodies; media uploads have their own limits
MAX_KEYS = 1000
MAX_DEPTH = 5
_KEY_PART = re.compile(r"\[([^\[\]]*)\]")


class MalformedParams(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(400, message)


def split_key(key: str) -> list[str]:
    """'poll[options][]' -> ['poll', 'options', '']; '' means "append to a list"."""
    bracket = key.find("[")
    if bracket <= 0:
        return [key]
    head, rest = key[:bracket], key[bracket:]
    parts = _KEY_PART.findall(rest)
    if "".join(f"[{p}]" for p in parts) != rest or len(parts) > MAX_DEPTH:
        return [key]  # not a well-formed bracket key: keep it literally
    return [head, *parts]


def nest(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Builds nested dicts and lists from bracket keys; for plain keys the last value wins."""
    root: dict[str, Any] = {}
    for count, (key, value) in enumerate(pairs, start=1):
        if count > MAX_KEYS:
            raise MalformedParams("Too many parameters")
        parts = split_key(key)
        node: Any = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            following = None if last else parts[index + 1]
            if isinstance(node, list):
                # Only `a[]` (append) is supported below a list; `a[][b]` is not Mastodon's.
                raise MalformedParams(f"Unsupported parameter name: {key}")
            if part == "":
                # Only a final `[]` appends (handled below); `a[][b]` and `a[][]` (lists
                # of hashes or of lists) are not something Mastodon's clients send.
                raise MalformedParams(f"Unsupported parameter name: {key}")
            if last:
                node[part] = value
            elif following == "" and index + 1 == len(parts) - 1:
                existing = node.get(part)
                if not isinstance(existing, list):
                    existing = []
                    node[part] = existing
                existing.append(value)
                break
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = {}
                    node[part] = child
                node = child
    return root


async def read_params(request: Request) -> dict[str, Any]:
    """All parameters of a request, merged; memoised on the request."""
    cached = request.scope.get("roost.params")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    merged = nest(request.query_params.multi_items())
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if content_type == "application/json" or content_type.endswith("+json"):
            merged.update(await _json_body(request))
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            if content_type != "multipart/form-data" and len(await request.body()) > MAX_BODY_BYTES:
                raise ApiError(413, "Request body is too large")
            try:
                form = await request.form(
                    max_files=16, max_fields=MAX_KEYS, max_part_size=MAX_BODY_BYTES
                )
            except Exception as exc:  # multipart parser errors are client errors
                if "maximum size" in str(exc):
                    raise ApiError(413, "Request body is too large") from exc
                raise MalformedParams("Malformed form body") from exc
            merged.update(nest(form.multi_items()))
    _reject_nul(merged)
    request.scope["roost.params"] = merged
    return merged


def _reject_nul(params: dict[str, Any]) -> None:
    """No text column can store U+0000 (PostgreSQL refuses it), and no client means it.
    Iterative, as JSON bodies may nest deeper than Python's recursion limit."""
    pending: list[Any] = [params]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise MalformedParams("Parameters must not contain NUL characters")
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


async def _json_body(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body.strip():
        return {}
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, "Request body is too large")
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedParams("Malformed JSON body") from exc
    if not isinstance(decoded, dict):
        raise MalformedParams("A JSON body must be an object")
    return decoded


def _describe(error: ErrorDetails) -> str:
    location = ".".join(str(part) for part in error["loc"]) or "body"
    return f"{location} {error['msg'].lower()}"


def validate(model: type[Model], data: dict[str, Any]) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = exc.errors(include_url=False, include_context=False, include_input=False)
        message = "Validation failed: " + ", ".join(_describe(p) for p in problems)
        raise ApiError(422, message) from exc


async def parse(request: Request, model: type[Model]) -> Model:
    return validate(model, await read_params(request))


def is_upload(value: object) -> bool:
    return isinstance(value, UploadFile)


class Params(BaseModel):
    """Base of every endpoint's parameter model.

    Blank values ("") mean "not given" for non-text fields, as they do in Rails, and
    numbers are accepted where text is expected (JSON clients send ids as numbers).
    """

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    @model_validator(mode="before")
    @classmethod
    def _blank_means_absent(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        cleaned = dict(data)
        for name, field in cls.model_fields.items():
            key = field.alias or name
            if cleaned.get(key) == "" and not _accepts_text(field.annotation):
                del cleaned[key]
        return cleaned


def _accepts_text(annotation: Any) -> bool:
    # `str | None` accepts text; `list[str]` or `dict[str, str]` does not.
    if get_origin(annotation) in (Union, UnionType):
        return str in get_args(annotation)
    return annotation is str

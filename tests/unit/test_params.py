"""The parameter layer: Rails bracket keys, merging every body kind over the query, and
the Params base model's blank-means-absent rule and coercions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI, Request
from pydantic import Field

from roost.api.errors import install_error_handlers
from roost.api.params import (
    MAX_DEPTH,
    MAX_KEYS,
    MalformedParams,
    Params,
    is_upload,
    nest,
    parse,
    read_params,
    split_key,
    validate,
)
from roost.api.responses import JSONResponse
from roost.errors import ApiError

# --- split_key and nest ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "parts"),
    [
        ("status", ["status"]),
        ("media_ids[]", ["media_ids", ""]),
        ("poll[options][]", ["poll", "options", ""]),
        ("fields_attributes[0][name]", ["fields_attributes", "0", "name"]),
        ("source[privacy]", ["source", "privacy"]),
        # Not well-formed: kept literally.
        ("a[b", ["a[b"]),
        ("a]b[", ["a]b["]),
        ("a[b]c", ["a[b]c"]),
        ("a[b][c", ["a[b][c"]),
        ("[a]", ["[a]"]),
        ("[]", ["[]"]),
        ("a[[b]]", ["a[[b]]"]),
        ("a" + "[x]" * (MAX_DEPTH + 1), ["a" + "[x]" * (MAX_DEPTH + 1)]),
    ],
)
def test_split_key(key: str, parts: list[str]) -> None:
    assert split_key(key) == parts


def test_deepest_allowed_key_is_split() -> None:
    assert split_key("a" + "[x]" * MAX_DEPTH) == ["a", *["x"] * MAX_DEPTH]


def test_bracket_arrays_become_lists() -> None:
    assert nest([("media_ids[]", "1"), ("media_ids[]", "2")]) == {"media_ids": ["1", "2"]}


def test_nested_arrays_and_hashes() -> None:
    assert nest([
        ("status", "hi"),
        ("poll[options][]", "a"),
        ("poll[options][]", "b"),
        ("poll[expires_in]", "300"),
        ("poll[multiple]", "true"),
    ]) == {
        "status": "hi",
        "poll": {"options": ["a", "b"], "expires_in": "300", "multiple": "true"},
    }


def test_indexed_hashes_become_dicts() -> None:
    assert nest([
        ("fields_attributes[0][name]", "x"),
        ("fields_attributes[0][value]", "y"),
        ("fields_attributes[1][name]", "z"),
    ]) == {"fields_attributes": {"0": {"name": "x", "value": "y"}, "1": {"name": "z"}}}


def test_plain_repeated_keys_last_wins() -> None:
    assert nest([("visibility", "public"), ("visibility", "direct")]) == {"visibility": "direct"}


def test_a_later_key_of_another_shape_replaces_the_earlier() -> None:
    assert nest([("a[b]", "1"), ("a", "2")]) == {"a": "2"}
    assert nest([("a", "1"), ("a[b]", "2")]) == {"a": {"b": "2"}}
    assert nest([("a", "1"), ("a[]", "2")]) == {"a": ["2"]}


def test_malformed_bracket_keys_are_kept_literally() -> None:
    assert nest([("a[b", "1"), ("c]d[", "2"), ("e[f]g", "3")]) == {
        "a[b": "1",
        "c]d[": "2",
        "e[f]g": "3",
    }


def test_values_are_kept_as_given() -> None:
    upload = object()
    assert nest([("file", upload), ("n", 3)]) == {"file": upload, "n": 3}


@pytest.mark.parametrize("key", ["a[][b]", "a[][]", ""])
def test_unsupported_keys_are_400(key: str) -> None:
    with pytest.raises(MalformedParams) as caught:
        nest([(key, "1")])
    assert caught.value.status == 400


def test_too_many_keys_is_400() -> None:
    pairs = [(f"k{n}", "v") for n in range(MAX_KEYS)]
    assert len(nest(pairs)) == MAX_KEYS
    with pytest.raises(MalformedParams, match="Too many parameters") as caught:
        nest([*pairs, ("one_more", "v")])
    assert caught.value.status == 400


# --- Params: blank means absent, coercions, the 422 message -----------------------------


class Example(Params):
    flag: bool | None = None
    sensitive: bool = False
    count: int = 5
    text: str | None = None
    name: str = Field(default="", max_length=3)
    ids: list[str] | None = None
    tags: list[str] = Field(default_factory=list)


def test_blank_means_absent_for_non_text_fields() -> None:
    parsed = validate(Example, {"flag": "", "sensitive": "", "count": "", "ids": "", "tags": ""})
    assert parsed == Example()


def test_blank_text_stays_blank() -> None:
    parsed = validate(Example, {"text": "", "name": ""})
    assert parsed.text == ""
    assert parsed.name == ""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("false", False), ("1", True), ("0", False), ("True", True),
     ("on", True), ("off", False), (True, True), (False, False), (1, True), (0, False)],
)
def test_boolean_coercion(raw: object, expected: bool) -> None:
    assert validate(Example, {"flag": raw}).flag is expected


def test_numbers_become_text() -> None:
    parsed = validate(Example, {"text": 109876543210987654, "ids": [1, "2", 3.5]})
    assert parsed.text == "109876543210987654"
    assert parsed.ids == ["1", "2", "3.5"]


def test_unknown_parameters_are_ignored() -> None:
    assert validate(Example, {"whatever": "x", "count": "7"}).count == 7


def test_422_message_format() -> None:
    with pytest.raises(ApiError) as caught:
        validate(Example, {"flag": "maybe", "count": "many", "name": "toolong"})
    assert caught.value.status == 422
    assert caught.value.message == (
        "Validation failed: "
        "flag input should be a valid boolean, unable to interpret input, "
        "count input should be a valid integer, unable to parse string as an integer, "
        "name string should have at most 3 characters"
    )
    assert caught.value.body() == {"error": caught.value.message}


def test_422_names_nested_locations() -> None:
    class Inner(Params):
        privacy: str = Field(default="public", pattern="^(public|private)$")
        sensitive: bool | None = None

    class Outer(Params):
        source: Inner | None = None

    with pytest.raises(ApiError) as caught:
        validate(Outer, {"source": {"privacy": "everyone"}})
    assert caught.value.message.startswith("Validation failed: source.privacy string should")
    # A blank nested value means "not given" there too.
    assert validate(Outer, {"source": {"sensitive": ""}}).source == Inner()


# --- read_params over real requests ------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if is_upload(value):
        return {"upload": value.filename}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


class Echo(Params):
    sensitive: bool = False
    in_reply_to_id: str | None = None
    media_ids: list[str] | None = None


def _make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.api_route("/echo", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def echo(request: Request) -> JSONResponse:
        first = await read_params(request)
        again = await read_params(request)  # memoised: the body is read once
        assert again is first
        return JSONResponse(_jsonable(first))

    @app.post("/parsed")
    async def parsed(request: Request) -> JSONResponse:
        return JSONResponse((await parse(request, Echo)).model_dump())

    return app


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://params.test") as client:
        yield client


async def test_query_string(http: httpx.AsyncClient) -> None:
    reply = await http.get("/echo?media_ids[]=1&media_ids[]=2&limit=5&limit=6")
    assert reply.json() == {"media_ids": ["1", "2"], "limit": "6"}


async def test_urlencoded_body_over_query(http: httpx.AsyncClient) -> None:
    reply = await http.post("/echo?status=from-query&only_query=q",
                            data={"status": "from-body", "poll[options][]": ["a", "b"]})
    assert reply.json() == {
        "status": "from-body",
        "only_query": "q",
        "poll": {"options": ["a", "b"]},
    }


async def test_multipart_body_with_a_file(http: httpx.AsyncClient) -> None:
    reply = await http.post(
        "/echo?q=1",
        data={"description": "a cat", "focus": "0.1,0.2", "fields_attributes[0][name]": "x"},
        files={"file": ("cat.png", b"\x89PNG fake", "image/png")},
    )
    assert reply.status_code == 200, reply.text
    assert reply.json() == {
        "q": "1",
        "description": "a cat",
        "focus": "0.1,0.2",
        "fields_attributes": {"0": {"name": "x"}},
        "file": {"upload": "cat.png"},
    }


async def test_json_body_over_query(http: httpx.AsyncClient) -> None:
    body = {"status": "json", "media_ids": ["1", 2], "poll": {"options": ["a"], "expires_in": 60}}
    reply = await http.post("/echo?status=query&visibility=public", json=body)
    assert reply.json() == {**body, "visibility": "public"}


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_other_methods_read_bodies(http: httpx.AsyncClient, method: str) -> None:
    reply = await http.request(method, "/echo", content=b"note=hi",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.json() == {"note": "hi"}


async def test_json_content_type_variants(http: httpx.AsyncClient) -> None:
    for content_type in ("application/json; charset=utf-8", "application/activity+json",
                         "Application/JSON"):
        reply = await http.post("/echo", content=b'{"a": 1}',
                                headers={"Content-Type": content_type})
        assert reply.json() == {"a": 1}, content_type


async def test_empty_json_body_means_no_parameters(http: httpx.AsyncClient) -> None:
    reply = await http.post("/echo?x=1", content=b"  ",
                            headers={"Content-Type": "application/json"})
    assert reply.json() == {"x": "1"}


async def test_bodies_of_other_kinds_and_of_gets_are_ignored(http: httpx.AsyncClient) -> None:
    reply = await http.post("/echo?x=1", content=b"a=1", headers={"Content-Type": "text/plain"})
    assert reply.json() == {"x": "1"}
    reply = await http.request("GET", "/echo?x=1", content=b'{"a": 1}',
                               headers={"Content-Type": "application/json"})
    assert reply.json() == {"x": "1"}


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"{not json", "Malformed JSON body"),
     (b"[1, 2]", "A JSON body must be an object"),
     (b'"text"', "A JSON body must be an object")],
)
async def test_bad_json_is_400(http: httpx.AsyncClient, content: bytes, message: str) -> None:
    reply = await http.post("/echo", content=content, headers={"Content-Type": "application/json"})
    assert reply.status_code == 400
    assert reply.json() == {"error": message}


async def test_too_large_json_is_413(http: httpx.AsyncClient) -> None:
    big = orjson.dumps({"status": "x" * (1 << 20)})
    reply = await http.post("/echo", content=big, headers={"Content-Type": "application/json"})
    assert reply.status_code == 413
    assert "error" in reply.json()


async def test_too_many_parameters_is_400(http: httpx.AsyncClient) -> None:
    many = "&".join(f"k{n}=v" for n in range(MAX_KEYS + 1))
    reply = await http.get(f"/echo?{many}")
    assert reply.status_code == 400
    assert reply.json() == {"error": "Too many parameters"}
    reply = await http.post("/echo", content=many.encode(),
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 400
    fields = {f"k{n}": "v" for n in range(MAX_KEYS + 1)}
    reply = await http.post("/echo", data=fields, files={"f": ("f.txt", b"x", "text/plain")})
    assert reply.status_code == 400
    assert "error" in reply.json()


async def test_malformed_multipart_is_400(http: httpx.AsyncClient) -> None:
    reply = await http.post("/echo", content=b"--nope\r\ngarbage",
                            headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert reply.status_code == 400
    assert reply.json() == {"error": "Malformed form body"}


async def test_parse_coerces_and_reports(http: httpx.AsyncClient) -> None:
    reply = await http.post("/parsed", json={"sensitive": "1", "in_reply_to_id": 123,
                                             "media_ids": [4, "5"]})
    assert reply.json() == {"sensitive": True, "in_reply_to_id": "123", "media_ids": ["4", "5"]}
    reply = await http.post("/parsed", data={"sensitive": "", "media_ids[]": ["7"]})
    assert reply.json() == {"sensitive": False, "in_reply_to_id": None, "media_ids": ["7"]}
    reply = await http.post("/parsed", data={"sensitive": "perhaps"})
    assert reply.status_code == 422
    assert reply.json() == {
        "error": "Validation failed: sensitive input should be a valid boolean, "
                 "unable to interpret input"
    }

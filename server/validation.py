"""Request validation and its OpenAPI description, from one pydantic schema.

``@json_body(Model)`` checks the media type (415), bounds the JSON's nesting depth and number sizes
before parsing it (400), parses it (400 on malformed), validates it (422 with each failing field),
and passes the model to the handler as ``body``; ``@query_args(Model)`` does the same for the query
string as ``query``. Both put the schema into /docs. ``@responds`` documents a response. Error
details name fields and rules but never echo the submitted values, which may be personal data.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import wraps
from typing import Annotated, Any, TypeVar, get_args, get_origin

import numpy as np
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from sanic import Request

from server.errors import BadRequest, UnsupportedMediaType, ValidationFailed
from server.openapi import ResponseDoc, doc_of

Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])
M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """A request schema: unknown fields are refused. Text is taken as sent (a password may end in a
    space); fields that should ignore surrounding blanks use ``Stripped``."""

    model_config = ConfigDict(extra="forbid")


Stripped = Annotated[str, StringConstraints(strip_whitespace=True)]


class WithPoint(StrictModel):
    """A request with a point: its own ``lat`` and ``lng`` fields, which go together (one without the
    other is 422 naming the missing one, not a point quietly ignored)."""

    @model_validator(mode="after")
    def _a_whole_point(self) -> Any:
        lat, lng = getattr(self, "lat", None), getattr(self, "lng", None)
        if (lat is None) != (lng is None):
            missing = "lng" if lng is None else "lat"
            raise ValidationFailed.field(missing, "lat and lng go together: give both or neither", "validation_failed")
        return self


# Cc control, Cf format (zero-width, bidi), Cs surrogate, Co private use, Cn unassigned; and the
# replacement character a query decoder puts where the bytes were not UTF-8 (identity.purpose, the
# reason's check, refuses the same).
_NOT_TEXT = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def _real_text(value: str) -> str:
    if "\ufffd" in value:
        raise ValueError("is not valid UTF-8 text")
    if any(unicodedata.category(c) in _NOT_TEXT for c in value):
        raise ValueError("holds control or invisible characters")
    return value


# Free text a list is searched by (a query's ``q``): real UTF-8 text, no control or invisible characters.
SearchText = Annotated[str, AfterValidator(_real_text)]


_ISO_DATETIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ]")


def _iso_text(value: Any) -> Any:
    # Read here, not by pydantic: its strict JSON mode still reads "1700000000" as a Unix time, and a
    # string handed on from a validator would meet strict Python mode, which takes no string at all.
    if not isinstance(value, str):
        return value  # a JSON number or boolean: strict validation refuses it
    try:
        if not _ISO_DATETIME.match(value):
            raise ValueError(value)
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("an ISO 8601 time with its offset, e.g. 2026-11-01T08:00:00+08:00") from None


def _within_the_calendar(value: datetime) -> datetime:
    # Aware datetimes compare as instants; years the service can hold keep the conversion to UTC (and
    # the database's own range) from overflowing at year 1 or 9999.
    if not 1970 <= value.year <= 2099:
        raise ValueError("a time from 1970 to 2099")
    return value


CalendarTime = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_within_the_calendar)]
"""A client-given instant: ISO 8601 with its offset (a naive time would be read in the server's
zone), between 1970 and 2099."""


# Mistakes with a code of their own, the same in every route whether a schema or a service finds them
# (an invalid ID number is `invalid_id_number` everywhere): a schema validator raises
# ``domain_error(code, message)`` and the answer's code is that one, not `validation_failed`.
DOMAIN_ERROR_CODES = frozenset({"invalid_id_number", "invalid_phone", "personal_number", "bad_cursor"})


def domain_error(code: str, message: str) -> PydanticCustomError:
    assert code in DOMAIN_ERROR_CODES, code
    return PydanticCustomError(code, message)


def _only_a_cursor(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError:
        raise domain_error("bad_cursor", "not a cursor this list gave out") from None


# A page cursor is only what a list gave out: whatever else is sent (too long, not a number, out of
# range) is 422 `bad_cursor`, as a well-formed cursor that names nothing is in each list's service.
TextCursor = Annotated[str, StringConstraints(max_length=128), WrapValidator(_only_a_cursor)]
# A cursor that is a row's public id (at most 32 characters, as the column).
IdCursor = Annotated[str, StringConstraints(max_length=32), WrapValidator(_only_a_cursor)]
CounterCursor = Annotated[int, Field(ge=0, le=2**63 - 1), WrapValidator(_only_a_cursor)]


def schema_failure(exc: ValidationError) -> ValidationFailed:
    fields = field_errors(exc)
    codes = {f["type"] for f in fields}
    if len(codes) == 1 and codes <= DOMAIN_ERROR_CODES:
        [code] = codes
        return ValidationFailed(f"{fields[0]['field']}: {fields[0]['message']}", code=code, details={"fields": fields})
    return ValidationFailed(details={"fields": fields})


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    errors = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = ".".join(str(part) for part in err.get("loc", ())) or "(body)"
        message = str(err.get("msg", "is invalid"))
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        errors.append({"field": loc, "message": message, "type": str(err.get("type", "invalid"))})
    return errors


# Bounds on a JSON body, checked on the raw bytes before any parser sees them: a parser recurses per
# level (hundreds of levels exhaust the stack) and turns digits into integers in quadratic time.
MAX_JSON_DEPTH = 32
MAX_NUMBER_CHARS = 40
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_NUMBER_CHAR = np.zeros(256, dtype=bool)
_NUMBER_CHAR[list(b"-+0123456789.eE")] = True
_DEPTH_STEP = np.zeros(256, dtype=np.int8)
_DEPTH_STEP[list(b"[{")] = 1
_DEPTH_STEP[list(b"]}")] = -1


def json_shape(raw: bytes) -> tuple[int, int]:
    """The deepest nesting of ``raw`` and its longest number token, counted outside strings, in
    linear time (vectorised: a regular expression or a loop in Python costs ten times more on
    hostile input). Valid JSON is measured exactly; for malformed JSON the figures hold up to the
    first point where a parser stops, which is all a parser would ever see."""
    data = np.frombuffer(raw, dtype=np.uint8)
    if data.size == 0:
        return 0, 0
    quotes = data == _QUOTE
    backslashes = data == _BACKSLASH
    if backslashes.any():
        # A quote preceded by an odd run of backslashes is escaped, part of the string.
        index = np.arange(data.size, dtype=np.int32)
        run = index - np.maximum.accumulate(np.where(backslashes, -1, index))
        quotes[1:] &= (run[:-1] & 1) == 0
    in_string = (np.cumsum(quotes, dtype=np.int32) & 1).astype(bool) | quotes
    depth = int(np.cumsum(np.where(in_string, 0, _DEPTH_STEP[data]), dtype=np.int32).max())
    edges = np.diff((_NUMBER_CHAR[data] & ~in_string).astype(np.int8), prepend=0, append=0)
    longest = int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max(initial=0))
    return max(depth, 0), longest


_NUMBER_RUN = re.compile(rb"[-+0-9.eE]{%d}" % (MAX_NUMBER_CHARS + 1))


def _plainly_within_bounds(raw: bytes) -> bool:
    # The usual small body: too few brackets to nest too deep and no long run of number characters
    # anywhere (strings included), so the exact measure is not needed. Ten times cheaper.
    return len(raw) <= 16384 and raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH and _NUMBER_RUN.search(raw) is None


def check_json_bounds(raw: bytes) -> None:
    """400 ``json_too_deep`` beyond MAX_JSON_DEPTH levels, 400 ``number_too_long`` for a number
    token longer than MAX_NUMBER_CHARS; malformed input is left for the parser to refuse."""
    if _plainly_within_bounds(raw):
        return
    depth, longest = json_shape(raw)
    if depth > MAX_JSON_DEPTH:
        raise BadRequest(
            f"The request nests objects and arrays deeper than {MAX_JSON_DEPTH} levels.",
            code="json_too_deep",
            details={"max_depth": MAX_JSON_DEPTH},
        )
    if longest > MAX_NUMBER_CHARS:
        raise BadRequest(
            f"A number in the request is longer than {MAX_NUMBER_CHARS} characters.",
            code="number_too_long",
            details={"max_chars": MAX_NUMBER_CHARS},
        )


def _refuse_constant(name: str) -> Any:
    # Python's parser takes NaN and Infinity, which are not JSON and no field means.
    raise ValueError(name)


def load_json(raw: bytes) -> Any:
    """Client JSON, bounded and parsed: 400 ``json_too_deep`` / ``number_too_long`` /
    ``malformed_json``. For every route that reads JSON itself."""
    check_json_bounds(raw)
    try:
        return json.loads(raw.decode("utf-8-sig"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(
            "The request body is not valid JSON.",
            code="malformed_json",
            details={"position": getattr(exc, "pos", None)},
        ) from None


def parse_json_body(request: Request, model: type[M], fast: Callable[[dict[str, Any]], M | None] | None = None) -> M:
    content_type = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType(details={"expected": "application/json", "received": content_type or None})
    raw = request.body or b""
    if not raw.strip():
        raise BadRequest("The request body is empty; send a JSON object.", code="malformed_json")
    data = load_json(raw)
    if _has_control_nul(data):
        raise BadRequest("The request contains a NUL character, which no field accepts.", code="nul_character")
    if not isinstance(data, dict):
        raise ValidationFailed(
            "The request body must be a JSON object.",
            details={"fields": [{"field": "(body)", "message": "expected an object", "type": "object_type"}]},
        )
    if fast is not None:
        plain = fast(data)
        if plain is not None:
            return plain
    return validate_strictly(model, data)


def validate_strictly(model: type[M], data: dict[str, Any]) -> M:
    """Validate JSON-shaped ``data`` in pydantic's strict JSON mode: a number field takes a JSON
    number (an integer where a float is wanted, as clients write 22 for 22.0), a boolean only true or
    false, a text field only text; times, dates and enum values still come as their strings. Lax mode
    stored ``"lat": true`` as 1.0 and took ``"anonymous": "yes"``."""
    try:
        return model.model_validate_json(json.dumps(data, ensure_ascii=False), strict=True)
    except ValidationError as exc:
        raise schema_failure(exc) from None


def _is_list_field(annotation: Any) -> bool:
    if get_origin(annotation) in (list, tuple, set, frozenset):
        return True
    return any(_is_list_field(arg) for arg in get_args(annotation))


def _has_control_nul(value: Any) -> bool:
    # PostgreSQL text cannot hold NUL; no field of ours means it. Refuse it up front, everywhere.
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_control_nul(k) or _has_control_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_control_nul(v) for v in value)
    return False


# Query strings (and form fields) are text: a number or a boolean is read from its usual spelling
# only, then validated strictly. Lax validation took "yes", "on" and "t" for true, and "nan" or
# "inf" for a number.
_QUERY_INT = re.compile(r"^[+-]?[0-9]{1,19}$")
_QUERY_FLOAT = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?$")
_DATE_ONLY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_QUERY_BOOLS = {"true": True, "false": False, "1": True, "0": False}


def scalar_type(annotation: Any) -> Any:
    """The type a query value converts to: int, float, bool or datetime (Optional and Annotated
    unwrapped), or None when the text is handed over as it is (text, dates, enum values)."""
    if annotation in (bool, int, float, datetime):
        return annotation
    if get_origin(annotation) is Annotated:
        return scalar_type(get_args(annotation)[0])
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (list, tuple, set, frozenset) or len(args) == 1:
        return scalar_type(args[0]) if args else None
    return None


def text_value(annotation: Any, text: str) -> Any:
    """``text`` as the JSON value a field of type ``annotation`` takes, when it is spelled as one;
    otherwise the text itself, which strict validation then refuses with the field's own error."""
    kind = scalar_type(annotation)
    if kind is bool:
        return _QUERY_BOOLS.get(text.lower(), text)
    if kind is int and _QUERY_INT.fullmatch(text):
        return int(text)
    if kind is float and len(text) <= MAX_NUMBER_CHARS and _QUERY_FLOAT.fullmatch(text):
        return float(text)
    if kind is datetime and _DATE_ONLY.fullmatch(text):
        return text + "T00:00:00"  # a day alone means its start, as it always did (Open311's clients send it)
    return text


def text_fields(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """Query or form values (text, or lists of text) converted for ``validate_strictly``."""
    converted: dict[str, Any] = {}
    fields = {field.alias or name: field for name, field in model.model_fields.items()}
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            converted[key] = value
        elif isinstance(value, list):
            converted[key] = [text_value(field.annotation, v) if isinstance(v, str) else v for v in value]
        else:
            converted[key] = text_value(field.annotation, value) if isinstance(value, str) else value
    return converted


def parse_query(request: Request, model: type[M]) -> M:
    if any(_has_control_nul(k) or _has_control_nul(request.args.getlist(k)) for k in request.args):
        raise BadRequest("The query contains a NUL character, which no parameter accepts.", code="nul_character")
    data: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        if key not in request.args:
            continue
        values = request.args.getlist(key)
        data[key] = values if _is_list_field(field.annotation) else values[-1]
    unknown = sorted(set(request.args) - {f.alias or n for n, f in model.model_fields.items()})
    if unknown and model.model_config.get("extra") == "forbid":
        raise ValidationFailed(
            details={
                "fields": [
                    {"field": k, "message": "unknown query parameter", "type": "extra_forbidden"} for k in unknown
                ]
            }
        )
    return validate_strictly(model, text_fields(model, data))


def json_body(
    model: type[M], *, fast: Callable[[dict[str, Any]], M | None] | None = None
) -> Callable[[Handler], Handler]:
    """The handler gets ``body``, the request's JSON validated strictly by ``model``. ``fast``: for a hot
    route, the model made from the usual body by a cheaper check of its own, or None to validate (and
    word the error) as any route does; it must accept only bodies that validation accepts alike."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> Any:
            kwargs["body"] = parse_json_body(request, model, fast)
            return await handler(request, *args, **kwargs)

        doc_of(wrapper).body = model
        return wrapper  # type: ignore[return-value]

    return decorate


def query_args(model: type[BaseModel]) -> Callable[[Handler], Handler]:
    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> Any:
            kwargs["query"] = parse_query(request, model)
            return await handler(request, *args, **kwargs)

        doc_of(wrapper).query = model
        return wrapper  # type: ignore[return-value]

    return decorate


def responds(
    status: int,
    model: type[BaseModel] | None = None,
    description: str = "OK",
    *,
    media: str = "application/json",
) -> Callable[[Handler], Handler]:
    """Document one answer of a route."""

    def decorate(handler: Handler) -> Handler:
        doc_of(handler).responses[status] = ResponseDoc(model, description, media)
        return handler

    return decorate


def errors(*statuses: int) -> Callable[[Handler], Handler]:
    """Document the error statuses a route can answer with (beyond those its decorators imply)."""

    def decorate(handler: Handler) -> Handler:
        doc_of(handler).errors.update(statuses)
        return handler

    return decorate

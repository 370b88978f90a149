"""Find fields the `openai` Realtime types do not know, at any depth, as the service names them.

The SDK's models accept unknown keys (`extra="allow"`) and keep them in `model_extra`, so a
validated event still carries every field its sender invented, however deep. The service refuses
those (`unknown_parameter`, `param` = the dotted path, e.g. `session.turn_detection`), so the local
server and the tests' checker walk the validated model for them. The walk follows only what the
validation produced (nested models, lists, tuples and dicts of models; the union member pydantic
chose), so free-form values such as a tool's JSON-schema `parameters` are never inspected.

It stays cheap on the hot path: per model class, the fields that can hold a model at all are found
once; an audio delta (only strings and ints) costs a dict lookup and one empty `model_extra`.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Iterator

import pydantic

__all__ = ["SERVICE_FIELDS_MISSING_FROM_SDK", "first_unknown_field", "unknown_fields"]

SERVICE_FIELDS_MISSING_FROM_SDK: frozenset[str] = frozenset(
    {
        # `session.created` / `session.updated`: the service's session object carries its identity
        # and expiry (documented in the API reference), which the SDK's session *request* type used
        # for these events lacks.
        "session.id",
        "session.object",
        "session.expires_at",
    }
)
"""Dotted paths the service really sends that the SDK's types lack; nothing else is let through."""


def unknown_fields(model: pydantic.BaseModel, allowed: frozenset[str] = frozenset()) -> Iterator[str]:
    """Dotted paths (`session.audio.input.bogus`, `tools[0].strict`) of fields the types do not know,
    in the order the sender wrote them; paths in `allowed` are skipped."""
    yield from _walk(model, "", allowed)


def first_unknown_field(model: pydantic.BaseModel, allowed: frozenset[str] = frozenset()) -> str | None:
    """The first unknown field, as the service reports one, or None when there is none."""
    if not model.__pydantic_extra__ and not _nested_fields(type(model)):
        return None  # the hot path: an audio delta holds no model and no extra field
    return next(_walk(model, "", allowed), None)


def _walk(
    value: object, path: str, allowed: frozenset[str], sibling_fields: frozenset[str] = frozenset()
) -> Iterator[str]:
    if isinstance(value, pydantic.BaseModel):
        # Without its `type`, a union member was pydantic's guess; a field a sibling member declares
        # means the guess was wrong, not that the field is unknown (the value checks report it).
        guessed = "type" in type(value).model_fields and "type" not in value.model_fields_set
        for key in value.__pydantic_extra__ or ():
            dotted = f"{path}.{key}" if path else key
            if dotted not in allowed and not (guessed and key in sibling_fields):
                yield dotted
        for name, siblings in _nested_fields(type(value)):
            child = getattr(value, name)
            if child is not None:
                yield from _walk(child, f"{path}.{name}" if path else name, allowed, siblings)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]", allowed, sibling_fields)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}" if path else str(key), allowed, sibling_fields)


@functools.cache
def _nested_fields(model_class: type[pydantic.BaseModel]) -> tuple[tuple[str, frozenset[str]], ...]:
    """The fields of `model_class` that can hold a model, each with the field names declared by
    the models its type allows when there is a choice of several (a union), else nothing."""
    nested = []
    for name, info in model_class.model_fields.items():
        models = _models_in(info.annotation)
        if models:
            choice = frozenset().union(*(m.model_fields for m in models)) if len(models) > 1 else frozenset()
            nested.append((name, choice))
    return tuple(nested)


def _models_in(annotation: object) -> set[type[pydantic.BaseModel]]:
    if typing.get_origin(annotation) is None:
        if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
            return {annotation}
        return set()
    return set().union(*(_models_in(argument) for argument in typing.get_args(annotation)))

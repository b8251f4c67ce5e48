"""The working copies of portfolio and settings (pulled + local edits)."""

from __future__ import annotations

import json
import types
import typing
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from contracts.pc import Diff
from contracts.portfolio import Portfolio
from contracts.settings import Settings
from pc_backend.deps import ServiceDep


def _bare(annotation: Any) -> Any:
    """`Annotated[int | None, ...]` → `int` (the one non-None member)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _bare(members[0])
    return annotation


def bool_as_number(model: type[BaseModel], doc: Any, loc: tuple[Any, ...] = ()
                   ) -> tuple[Any, ...] | None:
    """Where `doc` holds JSON true/false for a number field of `model` (pydantic's lax mode
    would read it as 1/0), else None."""
    if not isinstance(doc, dict):
        return None
    for name, info in model.model_fields.items():
        if name not in doc:
            continue
        kind, value = _bare(info.annotation), doc[name]
        if kind in (int, float) and isinstance(value, bool):
            return (*loc, name)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            found = bool_as_number(kind, value, (*loc, name))
        elif typing.get_origin(kind) is list and isinstance(value, list):
            (item,) = typing.get_args(kind) or (Any,)
            item = _bare(item)
            found = next((hit for i, v in enumerate(value)
                          if isinstance(item, type) and issubclass(item, BaseModel)
                          and (hit := bool_as_number(item, v, (*loc, name, i)))), None)
        else:
            found = None
        if found:
            return found
    return None


def _strict_numbers(model: type[BaseModel]) -> Any:
    async def check(request: Request) -> None:
        try:
            doc = json.loads(await request.body())
        except ValueError:
            return  # FastAPI's own parse names it
        where = bool_as_number(model, doc)
        if where is not None:
            raise RequestValidationError([{"loc": ("body", *where), "type": "float_type",
                                           "msg": "Input should be a number, not true/false"}])
    return Depends(check)


router = APIRouter(prefix="/workspace", tags=["workspace"])


@router.get("/portfolio", response_model=Portfolio)
def get_portfolio(service: ServiceDep) -> Portfolio:
    return service.workspace.working("portfolio")  # type: ignore[return-value]


@router.put("/portfolio", response_model=Portfolio, dependencies=[_strict_numbers(Portfolio)])
def put_portfolio(body: Portfolio, service: ServiceDep) -> Portfolio:
    return service.workspace.put_working("portfolio", body)  # type: ignore[return-value]


@router.get("/settings", response_model=Settings)
def get_settings(service: ServiceDep) -> Settings:
    return service.workspace.working("settings")  # type: ignore[return-value]


@router.put("/settings", response_model=Settings, dependencies=[_strict_numbers(Settings)])
def put_settings(body: Settings, service: ServiceDep) -> Settings:
    return service.workspace.put_working("settings", body)  # type: ignore[return-value]


@router.delete("/edits", response_model=Diff)
def discard_edits(service: ServiceDep) -> Diff:
    service.workspace.discard_edits()
    return service.workspace.diff()

"""Tool schemas come from type hints and docstrings; tool failures become text for the model."""

from __future__ import annotations

import asyncio
import enum
import json
from typing import Annotated, Literal

from voicecli.realtime import ToolRegistry, tool


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


def get_weather(city: Annotated[str, "The city name"], unit: Unit = Unit.CELSIUS, days: int = 1) -> str:
    """Get the weather forecast for a city.

    Longer text that is not part of the description.
    """
    return f"{city}: sunny for {days} day(s), {unit.value}"


async def add(a: float, b: float, tags: list[str] | None = None, mode: Literal["fast", "exact"] = "fast") -> dict:
    """Add two numbers."""
    return {"sum": a + b}


def broken() -> str:
    """Always fails."""
    raise RuntimeError("database unreachable")


def slow() -> str:
    """Takes too long."""
    import time

    time.sleep(0.5)
    return "late"


class LightsPlugin:
    @tool
    def turn_on(self, room: str) -> str:
        """Turn the lights on in a room."""
        return f"lights on in {room}"

    def not_a_tool(self) -> None:
        """Helper that must not be exposed."""


def test_schema_from_hints_and_docstring() -> None:
    registry = ToolRegistry([get_weather, add])
    weather, adder = registry.payload()
    assert weather == {
        "type": "function",
        "name": "get_weather",
        "description": "Get the weather forecast for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city name"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer"},
            },
            "required": ["city"],
        },
    }
    assert adder["parameters"]["properties"] == {
        "a": {"type": "number"},
        "b": {"type": "number"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "mode": {"type": "string", "enum": ["fast", "exact"]},
    }


def test_plugin_methods_marked_as_tools_are_registered_with_prefix() -> None:
    registry = ToolRegistry(plugins={"Lights": LightsPlugin()})
    assert [t["name"] for t in registry.payload()] == ["Lights-turn_on"]
    result = asyncio.run(registry.invoke("Lights-turn_on", '{"room": "kitchen"}', "c1"))
    assert result.result == "lights on in kitchen" and not result.is_error


def test_invoke_sync_async_and_failures() -> None:
    registry = ToolRegistry([get_weather, add, broken, slow], timeout_s=0.1)

    async def scenario() -> None:
        ok = await registry.invoke("add", '{"a": 1, "b": 2.5}', "c1")
        assert json.loads(ok.result) == {"sum": 3.5} and not ok.is_error
        enum_arg = await registry.invoke("get_weather", '{"city": "Rome"}', "c2")
        assert enum_arg.result == "Rome: sunny for 1 day(s), celsius"
        enum_given = await registry.invoke("get_weather", '{"city": "Oslo", "unit": "fahrenheit", "days": 2}', "c8")
        assert enum_given.result == "Oslo: sunny for 2 day(s), fahrenheit"
        bad_enum = await registry.invoke("get_weather", '{"city": "Oslo", "unit": "kelvin"}', "c9")
        assert bad_enum.is_error and "kelvin" in bad_enum.result
        failed = await registry.invoke("broken", "{}", "c3")
        assert failed.is_error and "RuntimeError: database unreachable" in failed.result
        unknown = await registry.invoke("nope", "{}", "c4")
        assert unknown.is_error and "no tool named 'nope'" in unknown.result
        bad_json = await registry.invoke("add", "{not json", "c5")
        assert bad_json.is_error and "not valid JSON" in bad_json.result
        wrong_args = await registry.invoke("add", '{"x": 1}', "c6")
        assert wrong_args.is_error and "TypeError" in wrong_args.result
        timed_out = await registry.invoke("slow", "{}", "c7")
        assert timed_out.is_error and "did not finish within 0.1 s" in timed_out.result

    asyncio.run(scenario())

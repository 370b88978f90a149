"""The tool of the demo tour: `get_weather`, with canned forecasts so every run gives the same answer.

Any public function of a tools file becomes a tool: its name, docstring and type hints tell the model
what it does and which arguments it takes (`Annotated` adds a description to an argument).
Use it with `--tools examples/tools/weather.py`, or `[tools] modules = [...]` in a config or script.
"""

from typing import Annotated

FORECASTS = {
    "paris": "sunny and 21 degrees",
    "london": "light rain and 14 degrees",
    "tokyo": "clear and 18 degrees",
}


def get_weather(city: Annotated[str, "The city, for example Paris"]) -> str:
    """Get the current weather in a city."""
    forecast = FORECASTS.get(city.strip().lower(), "cloudy and 17 degrees")
    return f"In {city} it is {forecast}."

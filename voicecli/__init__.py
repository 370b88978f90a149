"""voicecli: a terminal voice assistant on realtime speech APIs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("voicecli")  # the one version number is pyproject.toml's
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

"""voicecli: a terminal voice assistant on realtime speech APIs."""

__version__ = "0.1.0"

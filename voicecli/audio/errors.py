"""Audio error types, so callers can tell a setup problem from a bad file or a bad device choice."""


class AudioError(Exception):
    """Base class for every error raised by ``voicecli.audio``."""


class AudioFileError(AudioError):
    """An audio file is missing, unreadable or could not be written."""


class AudioUnavailable(AudioError):
    """PortAudio (the native library behind sounddevice) cannot be loaded."""


class DeviceError(AudioError):
    """A device choice matched nothing, matched several devices, or could not be opened."""

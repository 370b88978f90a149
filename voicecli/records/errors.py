"""The error of a record (recording, event log, log file) that could not be written in full."""

from voicecli.audio.errors import AudioFileError


class RecordingError(AudioFileError):
    """A full or vanished disk stopped a record: the message says what was kept and what was lost.

    An `AudioFileError`, so every command already turns it into one line and exit code 1."""

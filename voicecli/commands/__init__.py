"""What each command does, called by `cli.py` once it has parsed the arguments.

`talk_live` (microphone and speakers), `talk_files` (a WAV or typed text), `devices`, and `demo/`
(scripted conversations).
"""

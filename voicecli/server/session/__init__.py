"""One realtime session's state, kept apart from the socket that carries it.

`session` routes client events to its parts: `config` (session.update), `input_audio` with `vad`
(the input buffer and turn detection), `conversation` (items), `responses` and `response_stream`
(what the model says and how it is streamed), `audio_out` (where reply audio goes).
"""

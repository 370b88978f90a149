"""Audio I/O: files, resampling, devices, microphone capture and low-latency playback.

Submodules that need PortAudio import ``sounddevice`` lazily so the CLI starts fast without it.
"""

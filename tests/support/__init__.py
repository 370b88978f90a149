"""The tests' own helpers: servers and clients, PulseAudio rooms, processes under test, stand-ins.

Test modules import what they use from here (`from support.audio import PulseAudio`); `conftest.py`
only wires fixtures. Nothing here is collected as tests.
"""

"""The conversation that joins the realtime client to the devices, the screen and the tools.

`providers` turns the configuration into a client; `live` runs the full-duplex conversation
(microphone → client → player, barge-in); `exchange` runs one turn for file mode and demos; `tools`
and `builtin_tools` give the model its functions.
"""

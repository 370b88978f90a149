"""The local server's Azure Voice Live route (`/voice-live/realtime`): see `route`."""

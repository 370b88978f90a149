"""`voicecli phone`: callers reach the realtime model through Azure Communication Services.

`media` is the ACS media-frame protocol, `bridge` one call (media WebSocket ↔ realtime session),
`webhook` and `acs` the Event Grid / Call Automation side, `app` the aiohttp app that holds them,
`dialer` the caller's side for trying it without a phone. The ACS SDK loads only when used.
"""

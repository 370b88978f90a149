"""The server's WebRTC half: `routes` (client secrets and SDP calls), `call` (one peer connection and
its `oai-events` channel), `audio` (reply audio paced out as RTP). aiortc loads only on the first call."""

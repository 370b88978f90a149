"""What the Voice Live tests share, whatever the transport: a wire that checks every event both ways
against the `azure-ai-voicelive` models as it passes."""

from __future__ import annotations

from typing import Any

from voicecli.realtime import ContinuityEvents, RealtimeClient, RealtimeEvent, RealtimeWordEvent, WordTimestampContent
from voicecli.server.voicelive.conformance import check_client_event, check_server_event


class Wire:
    """Both directions of one session, each event checked against the SDK's models as it passes (the
    client's own continuity events are not the service's: not checked)."""

    def __init__(self, client: RealtimeClient) -> None:
        self.sent: list[dict[str, Any]] = []
        self.received: list[RealtimeEvent] = []
        client.observe_sent(self._sent)

    def _sent(self, payload: dict[str, Any]) -> None:
        check_client_event(payload)
        self.sent.append(payload)

    def __call__(self, event: RealtimeEvent) -> None:
        if event.service_event is not None and event.service_type not in set(ContinuityEvents):
            check_server_event(event.service_event)
        self.received.append(event)

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [event.service_event or {} for event in self.received if event.service_type == event_type]

    def words(self) -> list[WordTimestampContent]:
        return [event.word for event in self.received if isinstance(event, RealtimeWordEvent)]

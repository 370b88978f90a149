"""Azure Communication Services Call Automation, through its SDK: answer a call, reject one, hang one up.

The SDK is the optional extra `voicecli[phone]`, imported only when the bridge is given a
connection string, so `voicecli --help` (and a bridge tried with `--dial` alone) never loads it.
The connection string is a secret: it never appears in a message, even when it is malformed.
"""

from __future__ import annotations

from typing import Any

from voicecli.config import ConfigError

INSTALL_HINT = "install the phone extra: pip install 'voicecli[phone]'"


class PhoneSetupError(ConfigError):
    """The ACS side cannot be set up (SDK missing, connection string unusable); one line for the user."""


_BAD_CONNECTION_STRING = "ACS_CONNECTION_STRING is not a valid connection string (endpoint=https://…;accesskey=…)"


def parse_connection_string(connection_string: str) -> tuple[str, str]:
    """The endpoint (scheme kept; https when none is given) and the access key.

    The SDK's own `from_connection_string` drops the scheme and always uses https; keeping it lets
    the bridge reach a plain-http stand-in for ACS on loopback (the tests) while real ACS
    endpoints, which are https, are used exactly as the SDK would.
    """
    fields = {}
    for element in connection_string.split(";"):
        key, _, value = element.partition("=")
        fields[key.strip().lower()] = value.strip()
    endpoint, access_key = fields.get("endpoint", ""), fields.get("accesskey", "")
    if not endpoint or not access_key:
        raise PhoneSetupError(_BAD_CONNECTION_STRING)
    if "://" not in endpoint:
        endpoint = f"https://{endpoint}"
    return endpoint.rstrip("/"), access_key


class CallAutomation:
    """The few Call Automation requests the bridge makes, over the SDK's async client."""

    def __init__(self, connection_string: str) -> None:
        try:
            from azure.communication.callautomation.aio import CallAutomationClient
        except ImportError:
            raise PhoneSetupError(
                f"answering ACS calls needs azure-communication-callautomation; {INSTALL_HINT}"
            ) from None
        from azure.core.credentials import AzureKeyCredential

        endpoint, access_key = parse_connection_string(connection_string)
        try:
            self._client: Any = CallAutomationClient(endpoint, AzureKeyCredential(access_key))
        except (ValueError, TypeError):
            raise PhoneSetupError(_BAD_CONNECTION_STRING) from None

    async def answer(self, incoming_call_context: str, *, callback_url: str, transport_url: str) -> str:
        """Answer with bidirectional PCM 24 kHz mono media streaming to `transport_url`; returns the connection id."""
        from azure.communication.callautomation import (
            AudioFormat,
            MediaStreamingAudioChannelType,
            MediaStreamingContentType,
            MediaStreamingOptions,
            StreamingTransportType,
        )

        streaming = MediaStreamingOptions(
            transport_url=transport_url,
            transport_type=StreamingTransportType.WEBSOCKET,
            content_type=MediaStreamingContentType.AUDIO,
            audio_channel_type=MediaStreamingAudioChannelType.MIXED,
            start_media_streaming=True,
            enable_bidirectional=True,
            audio_format=AudioFormat.PCM24_K_MONO,
        )
        result = await self._client.answer_call(
            incoming_call_context=incoming_call_context, callback_url=callback_url, media_streaming=streaming
        )
        return str(result.call_connection_id or "")

    async def reject(self, incoming_call_context: str) -> None:
        """Refuse a call the bridge has no room for: the caller hears busy."""
        from azure.communication.callautomation import CallRejectReason

        await self._client.reject_call(
            incoming_call_context=incoming_call_context, call_reject_reason=CallRejectReason.BUSY
        )

    async def hang_up(self, connection_id: str) -> None:
        """End the call for everyone on it."""
        await self._client.get_call_connection(connection_id).hang_up(is_for_everyone=True)

    async def close(self) -> None:
        await self._client.close()

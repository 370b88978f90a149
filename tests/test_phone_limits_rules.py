"""When a call must end: the limits as rules, without I/O (the end-to-end tests are in test_phone_limits)."""

from __future__ import annotations

from voicecli.phone.limits import CallLimits, goodbye_instructions

LIMITS = CallLimits(max_calls=2, idle_timeout_s=30.0, max_call_s=600.0)


def test_within_every_limit_the_call_goes_on() -> None:
    assert LIMITS.reached(now=100.0, started=0.0, quiet_since=80.0) is None


def test_silence_from_the_caller_ends_the_call() -> None:
    assert LIMITS.reached(now=100.0, started=0.0, quiet_since=70.0) == "no caller audio for 30 s"


def test_the_maximum_length_ends_the_call_whatever_else() -> None:
    reason = LIMITS.reached(now=600.0, started=0.0, quiet_since=599.0)
    assert reason == "the call reached its maximum length (600 s)"
    assert "longest time allowed" in goodbye_instructions(reason)
    assert "silent" in goodbye_instructions("no caller audio for 30 s")


def test_limits_are_checked_often_enough_for_short_test_settings() -> None:
    assert CallLimits(idle_timeout_s=0.4, max_call_s=3600).check_every_s == 0.1
    assert LIMITS.check_every_s == 1.0


async def test_a_caller_waiting_for_the_models_reply_is_not_idle() -> None:
    from voicecli.phone.bridge import CallBridge
    from voicecli.phone.calls import CallRecord, CallRegistry
    from voicecli.realtime import ListenEvents, OpenAIRealtimeWebsocket, RealtimeEvent, RealtimeSettings

    record = CallRecord("waiting")
    bridge = CallBridge(
        record,
        CallRegistry(),
        socket=None,  # type: ignore[arg-type]  # nothing is sent: only the bookkeeping is exercised
        client_factory=lambda _, tools: OpenAIRealtimeWebsocket(api_key="sk-test", tools=tools),
        settings=RealtimeSettings(),
        limits=LIMITS,
    )
    start = record.started
    assert bridge.limit_reached(start + 31) == "no caller audio for 30 s"
    await bridge._react(RealtimeEvent(service_type=ListenEvents.RESPONSE_CREATED, service_event={}))
    assert bridge.limit_reached(start + 100) is None, "the model is still working on the reply"
    await bridge._react(RealtimeEvent(service_type=ListenEvents.RESPONSE_DONE, service_event={}))
    done = bridge._model_done_at
    assert bridge.limit_reached(done + 29) is None
    assert bridge.limit_reached(done + 31) == "no caller audio for 30 s"

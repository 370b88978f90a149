"""Run one prepared script: open a session, play each turn through `exchange`, check, write the files.

The files are rewritten after every turn and once more however the run ends (failure, timeout,
Ctrl-C), so whatever was received is on disk. A turn that gets no complete answer ends the run: the
session may still be busy with it, and later turns would read the wrong answers.
"""

from __future__ import annotations

import functools
import time
from typing import Protocol

from voicecli.commands.demo.expectations import check
from voicecli.commands.demo.inputs import TurnInput
from voicecli.commands.demo.prepare import PreparedScript
from voicecli.commands.demo.report import ReportWriter
from voicecli.commands.demo.results import ScriptRun, Timeline, TurnRecord, heard_text
from voicecli.commands.demo.script import DemoTurn
from voicecli.conversation.approvals import set_up_approvals
from voicecli.conversation.exchange import exchange
from voicecli.conversation.mcp_tools import McpTools, mcp_notice, refresh_session
from voicecli.conversation.providers import build_client, session_settings
from voicecli.realtime import RealtimeClient, RealtimeError, RealtimeEvent
from voicecli.realtime.usage import TokenUsage, UsageMeter, usage_reader


class RunObserver(Protocol):
    """What a display is told while scripts run (several may run at once)."""

    def run_started(self, run: ScriptRun) -> None: ...

    def turn_started(self, run: ScriptRun, turn: DemoTurn, sent: TurnInput) -> None: ...

    def event(self, run: ScriptRun, event: RealtimeEvent) -> None: ...

    def turn_finished(self, run: ScriptRun, record: TurnRecord) -> None: ...

    def run_finished(self, run: ScriptRun) -> None: ...


async def run_script(prepared: PreparedScript, observer: RunObserver) -> ScriptRun:
    """Run every turn (or until one fails to get an answer); a connection failure is recorded, not raised."""
    run = ScriptRun(prepared)
    run.usage = UsageMeter(prices=prepared.config.prices.get(prepared.config.priced_model()))
    writer = ReportWriter(run)
    writer.start()
    observer.run_started(run)
    started = time.perf_counter()
    try:
        speech_input = any(sent.audio is not None for sent in prepared.inputs)  # else typed turns only
        client = build_client(prepared.config, speech_input=speech_input, tools=prepared.tools)
        run.usage.reader = usage_reader(client.protocol)  # tokens, or GPT-Live's seconds
        settings = session_settings(
            prepared.config, push_to_talk=True, expected_phrases=prepared.script.spoken_phrases or None
        )
        set_up_approvals(client.tools, prepared.config)  # nobody to ask: `[tools] approve` decides, else refused
        mcp = McpTools(prepared.mcp_servers, client.tools, notice=lambda line: observer.event(run, mcp_notice(line)))
        mcp.on_change = functools.partial(refresh_session, client)
        async with mcp, client(settings=settings):
            for turn, sent in zip(prepared.script.turns, prepared.inputs, strict=True):
                observer.turn_started(run, turn, sent)
                record = await _run_turn(client, run, turn, sent, observer)
                run.records.append(record)
                run.duration_s = time.perf_counter() - started
                writer.update()
                observer.turn_finished(run, record)
                if record.result.failed:
                    break
    except RealtimeError as exc:
        run.error = str(exc)
    finally:
        run.duration_s = time.perf_counter() - started
        writer.update()
    observer.run_finished(run)
    return run


async def _run_turn(
    client: RealtimeClient, run: ScriptRun, turn: DemoTurn, sent: TurnInput, observer: RunObserver
) -> TurnRecord:
    responses_before = len(run.usage.turns)
    first_entry = len(run.conversation.entries)

    def observe(event: RealtimeEvent) -> None:
        run.usage.observe(event)
        observer.event(run, event)

    result = await exchange(
        client,
        text=sent.text,
        audio=sent.audio,
        timeout_s=turn.timeout_s or run.config.response_timeout_s,
        observer=observe,
        state=run.conversation,
    )
    timeline = Timeline(run.conversation.entries[first_entry:])
    checks = check(turn.expect, timeline.reply, result.tool_calls, heard_text(sent, result))
    usage = sum(run.usage.turns[responses_before:], TokenUsage())
    return TurnRecord(turn, sent, result, timeline, checks, usage)

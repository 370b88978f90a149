// The JavaScript Agents SDK (@openai/agents-realtime) against a local realtime server: a typed turn,
// a spoken turn, a tool call and an interruption, each in a session of its own. Run by scripts/interop.sh.
//
//   node agents_realtime.mjs ws://127.0.0.1:PORT/v1/realtime?model=gpt-realtime speech.pcm
//
// What the server holds is asked over the same socket (conversation.item.retrieve), so every check
// reads both sides. One line per check: "<client> <check>: PASS|FAIL|KNOWN - detail"; KNOWN is a
// failure whose cause is a defect already filed (named in the detail). Exit code 1 on any FAIL.
import { readFileSync } from 'node:fs';
import { OpenAIRealtimeWebSocket, RealtimeAgent, RealtimeSession, tool } from '@openai/agents-realtime';
import { z } from 'zod';

const PACKAGE = new URL('./node_modules/@openai/agents-realtime/package.json', import.meta.url);
const CLIENT = `@openai/agents-realtime ${JSON.parse(readFileSync(PACKAGE, 'utf8')).version}`;
const WAIT_MS = 20000;
const BYTES_PER_MS = 48; // pcm16, 24 kHz, mono
const TRUNCATE_REFUSED = /Audio content of \d+ms is already shorter/;

const [url, speechPath] = process.argv.slice(2);
if (!url || !speechPath || !url.startsWith('ws://127.0.0.1:')) {
  console.error('usage: node agents_realtime.mjs ws://127.0.0.1:PORT/v1/realtime?model=NAME SPEECH.pcm');
  process.exit(2);
}

const getWeather = tool({
  name: 'get_weather',
  description: 'The weather in a city.',
  parameters: z.object({ city: z.string() }),
  execute: async ({ city }) => `sunny and 21 degrees in ${city}`,
});

/** One SDK session, with every server event it received and every client event it sent. */
async function openPeer() {
  const transport = new OpenAIRealtimeWebSocket({ url });
  const agent = new RealtimeAgent({ name: 'interop', instructions: 'Be brief.', tools: [getWeather] });
  const session = new RealtimeSession(agent, { transport, model: 'gpt-realtime' });
  const peer = { session, transport, received: [], sent: [], toolsRun: [], wake: () => {} };
  transport.on('*', (event) => {
    peer.received.push(event);
    peer.wake();
  });
  session.on('agent_tool_end', (_context, _agent, called) => peer.toolsRun.push(called.name));
  session.on('error', () => {}); // errors are read from `received`; unhandled, they would end the process
  await session.connect({ apiKey: 'sk-interop', url });
  const socket = transport.connectionState.websocket; // every client event, as it goes on the wire
  const send = socket.send.bind(socket);
  socket.send = (data, ...rest) => {
    peer.sent.push(JSON.parse(data));
    send(data, ...rest);
  };
  await waitFor(peer, is('session.updated'), 'session.updated');
  return peer;
}

const is = (kind) => (event) => event.type === kind;

/** The `nth` (from 0) received event that `matches`, from the start of the session. */
async function waitFor(peer, matches, what, nth = 0) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const found = peer.received.filter(matches);
    if (found.length > nth) return found[nth];
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      const kinds = peer.received.map((e) => e.type).filter((t) => !t.includes('delta'));
      throw new Error(`never received ${what}; got ${kinds.join(', ')}`);
    }
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, remaining);
      peer.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** The item as the server holds it (conversation.item.retrieve). */
async function serverItem(peer, itemId) {
  peer.transport.sendEvent({ type: 'conversation.item.retrieve', item_id: itemId });
  return (await waitFor(peer, (e) => e.type === 'conversation.item.retrieved' && e.item.id === itemId, `item ${itemId}`)).item;
}

const transcripts = (peer) => peer.received.filter(is('response.output_audio_transcript.done')).map((e) => e.transcript);
const audioMs = (peer, itemId) =>
  peer.received
    .filter((e) => e.type === 'response.output_audio.delta' && e.item_id === itemId)
    .reduce((sum, e) => sum + Buffer.from(e.delta, 'base64').length, 0) / BYTES_PER_MS;
const retrievedAudioMs = (item, index = 0) => Buffer.from(item.content[index].audio ?? '', 'base64').length / BYTES_PER_MS;
const errors = (peer) => peer.received.filter(is('error')).map((e) => `${e.error.code}: ${e.error.message}`);

function expect(condition, detail) {
  if (!condition) throw new Error(detail);
}

async function typedTurn(peer) {
  peer.session.sendMessage('Hello there');
  const done = await waitFor(peer, is('response.done'), 'response.done');
  const said = transcripts(peer);
  expect(JSON.stringify(said) === JSON.stringify(['Hello from the local server.']), `reply transcripts ${JSON.stringify(said)}`);
  const reply = done.response.output.find((item) => item.type === 'message');
  expect(audioMs(peer, reply.id) > 500, `only ${Math.round(audioMs(peer, reply.id))} ms of reply audio`);
  const userId = peer.received.find((e) => e.type === 'conversation.item.added' && e.item.role === 'user').item.id;
  const user = await serverItem(peer, userId);
  expect(user.content[0].text === 'Hello there', `server holds user content ${JSON.stringify(user.content)}`);
  const held = await serverItem(peer, reply.id);
  expect(retrievedAudioMs(held) === audioMs(peer, reply.id), 'server and client disagree on the reply audio');
  return `reply "${said[0]}" with ${Math.round(audioMs(peer, reply.id))} ms of audio; server holds the typed text and the same audio`;
}

async function spokenTurn(peer, speech) {
  const quiet = Buffer.alloc(24000 * 2); // a second of silence ends the turn for the server's VAD
  const audio = Buffer.concat([speech, quiet]);
  for (let at = 0; at < audio.length; at += 4800) {
    const chunk = audio.subarray(at, at + 4800); // 100 ms
    peer.session.sendAudio(chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.length));
  }
  const done = await waitFor(peer, is('response.done'), 'response.done');
  const heard = await waitFor(peer, is('conversation.item.input_audio_transcription.completed'), 'the transcription');
  expect(heard.transcript.toLowerCase().includes('hear me'), `server heard "${heard.transcript}"`);
  const said = transcripts(peer);
  expect(said.at(-1) === 'Yes, I hear you.', `reply transcripts ${JSON.stringify(said)}`);
  const reply = done.response.output[0];
  expect(audioMs(peer, reply.id) > 500, `only ${Math.round(audioMs(peer, reply.id))} ms of reply audio`);
  const user = await serverItem(peer, heard.item_id);
  const userMs = retrievedAudioMs(user);
  const speechMs = speech.length / BYTES_PER_MS;
  expect(Math.abs(userMs - speechMs) < 600, `server holds ${userMs} ms of user audio for ${speechMs} ms of speech`);
  return `server VAD took ${userMs} ms (speech ${Math.round(speechMs)} ms), heard "${heard.transcript}", replied "${said.at(-1)}" with ${Math.round(audioMs(peer, reply.id))} ms of audio`;
}

async function toolCall(peer) {
  peer.session.sendMessage('What is the weather like?');
  await waitFor(peer, is('response.done'), 'the answer after the tool output', 1);
  expect(JSON.stringify(peer.toolsRun) === '["get_weather"]', `tools run ${JSON.stringify(peer.toolsRun)}`);
  const call = peer.received.find((e) => e.type === 'response.output_item.done' && e.item.type === 'function_call').item;
  expect(call.arguments === '{"city":"Paris"}', `call arguments ${call.arguments}`);
  const outputId = peer.received.find((e) => e.type === 'conversation.item.added' && e.item.type === 'function_call_output').item.id;
  const output = await serverItem(peer, outputId);
  expect(output.call_id === call.call_id, `output for ${output.call_id}, call ${call.call_id}`);
  expect(output.output === 'sunny and 21 degrees in Paris', `server holds output ${JSON.stringify(output.output)}`);
  const said = transcripts(peer).at(-1);
  expect(said === 'The weather tool says: sunny and 21 degrees in Paris', `final reply "${said}"`);
  return `SDK ran get_weather(${call.arguments}); server holds its output for ${call.call_id}; reply "${said}"`;
}

async function interruption(peer) {
  peer.session.sendMessage('Tell me a story');
  const first = await waitFor(peer, is('response.output_audio.delta'), 'the story audio');
  await new Promise((resolve) => setTimeout(resolve, 400)); // the SDK counts played audio by the wall clock
  const streaming = !peer.received.some(is('response.done'));
  const sentBefore = peer.sent.length;
  peer.session.interrupt();
  const answer = await waitFor(peer, (e) => e.type === 'conversation.item.truncated' || e.type === 'error', 'the truncation');
  const sent = peer.sent.slice(sentBefore).map((e) => e.type).join(' + ');
  const when = streaming ? 'while the reply streamed' : 'after the whole reply had arrived';
  if (answer.type === 'error' && TRUNCATE_REFUSED.test(answer.error.message)) {
    return { known: `issue 22 item 2 (truncate while streaming): SDK sent ${sent} ${when}; server answered ${answer.error.code}: ${answer.error.message}` };
  }
  expect(answer.type === 'conversation.item.truncated', `SDK sent ${sent}; server answered ${JSON.stringify(answer)}`);
  await waitFor(peer, is('response.done'), 'the end of the interrupted reply');
  const late = peer.received.slice(peer.received.indexOf(answer)).filter((e) => e.type === 'response.output_audio.delta' && e.item_id === first.item_id);
  expect(late.length === 0, `${late.length} audio deltas of the item after its truncation`);
  const held = await serverItem(peer, first.item_id);
  expect(retrievedAudioMs(held) === answer.audio_end_ms, `server holds ${retrievedAudioMs(held)} ms, truncated at ${answer.audio_end_ms}`);
  const refused = errors(peer);
  expect(refused.length === 0 || !streaming, `errors ${refused.join('; ')}`);
  const detail = `SDK sent ${sent} ${when}; truncated at ${answer.audio_end_ms} ms of ${Math.round(audioMs(peer, first.item_id))} ms; server holds ${retrievedAudioMs(held)} ms`;
  if (!streaming) {
    return { known: `issue 22 item 3 (server not paced, the reply had fully arrived, so the streaming path was not exercised): ${detail}` };
  }
  return detail;
}

const speech = readFileSync(speechPath);
const checks = [
  ['text turn', typedTurn],
  ['spoken turn', (peer) => spokenTurn(peer, speech)],
  ['tool call', toolCall],
  ['interruption', interruption],
];
let failed = 0;
for (const [name, check] of checks) {
  let peer;
  let line;
  try {
    peer = await openPeer();
    const result = await check(peer);
    expect(typeof result !== 'string' || errors(peer).length === 0, `server errors: ${errors(peer).join('; ')}`);
    line = typeof result === 'string' ? `PASS - ${result}` : `KNOWN - ${result.known}`;
  } catch (error) {
    failed += 1;
    const refused = peer ? errors(peer) : [];
    const extra = refused.length && !error.message.startsWith('server errors') ? `; server errors: ${refused.join('; ')}` : '';
    line = `FAIL - ${error.message}${extra}`;
  } finally {
    peer?.session.close();
  }
  console.log(`${CLIENT} ${name}: ${line}`);
}
process.exit(failed ? 1 : 0);

// Reads wasmux's POST /sessions/{name}/chat with the Vercel AI SDK's own
// client: DefaultChatTransport sends the SDK's request body and parses the
// UI message stream (validating every chunk against the SDK's schemas);
// readUIMessageStream assembles the assistant message. Prints one JSON
// object: the chunk types seen and the final message's parts.
//
// usage: node chat-client.mjs <base-url> <session> <token> <text>
import { DefaultChatTransport, readUIMessageStream } from 'ai';

const [base, session, token, text] = process.argv.slice(2);
const transport = new DefaultChatTransport({
  api: `${base}/sessions/${session}/chat`,
  headers: { Authorization: `Bearer ${token}` },
});
const messages = [{ id: 'u1', role: 'user', parts: [{ type: 'text', text }] }];
const stream = await transport.sendMessages({
  trigger: 'submit-message',
  chatId: 'chat-1',
  messageId: undefined,
  messages,
  abortSignal: undefined,
});
const chunkTypes = [];
const errors = [];
const [a, b] = stream.tee();
const seen = (async () => {
  for await (const chunk of a) chunkTypes.push(chunk.type);
})();
let last;
for await (const message of readUIMessageStream({ stream: b, onError: (e) => errors.push(String(e)) })) {
  last = message;
}
await seen;
console.log(JSON.stringify({ chunkTypes, errors, message: last }));

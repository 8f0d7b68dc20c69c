// `{{name}}`: a wasmux adapter written in JavaScript, serving a session's
// assistant messages as plain text lines
// (`GET /sessions/NAME/events?format={{name}}`) and taking
// `{"text": "..."}` bodies as messages.
//
// Build: `wasmux plugin build` (componentize-js, installed privately).

const refuse = (kind, message) => ({ kind: { tag: kind }, message });

/** Encoding state for one response stream (the `encoder` resource). */
class Encoder {
  constructor(_session, messageId) {
    this.messageId = messageId;
  }

  headers() {
    return [["content-type", "text/plain; charset=utf-8"]];
  }

  begin() {
    return new Uint8Array();
  }

  encode(event) {
    const item = event.item;
    if (item.tag === "agent" && item.val.tag === "message") {
      return { bytes: new TextEncoder().encode(item.val.val + "\n"), done: false };
    }
    if (item.tag === "message-done" || item.tag === "message-failed") {
      return { bytes: new Uint8Array(), done: item.val.id === this.messageId };
    }
    return { bytes: new Uint8Array(), done: false };
  }

  finish(error) {
    return new TextEncoder().encode(error ? `error: ${error}\n` : "");
  }
}

export const eventAdapter = {
  /** Parse a client request body into the message to enqueue. */
  decodeRequest(req) {
    let body;
    try {
      body = JSON.parse(new TextDecoder().decode(req.body));
    } catch (e) {
      throw refuse("invalid-input", `body is not JSON: ${e.message}`);
    }
    const text = body && typeof body === "object" ? body.text : undefined;
    if (typeof text !== "string" || !text.trim()) throw refuse("invalid-input", "`text` (a non-empty string) is required");
    return { text, metadata: "{}" };
  },
  Encoder,
};

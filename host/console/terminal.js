// The live terminal: xterm.js over the session's WebSocket stream.
// On open: resize the pane to fit, take a snapshot, resume after its seq.
// On a dropped connection: reconnect and resume after the last seq seen
// (frames at or below it are dropped, so nothing repeats); a new epoch or a
// gap means the log no longer continues ours, so start over from a snapshot.

const MAX_INPUT = 60000; // the stream takes at most 64 KiB per input message

function b64bytes(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// xterm.js 6's DOM renderer redraws every row on each selection notice, and
// the selection service sends one on every scroll, selection or not
// (xtermjs/xterm.js#4633): a flood of output was rendered twice per frame.
// Pass a notice on only while there is (or just was) a selection; the rows a
// scroll moved are redrawn by the ordinary render anyway.
function skipEmptySelectionRedraws(term) {
  const render = term._core?._renderService;
  if (typeof render?.handleSelectionChanged !== 'function') return; // another xterm.js: leave it be
  const pass = render.handleSelectionChanged.bind(render);
  let had = true; // the first notice goes through
  render.handleSelectionChanged = (start, end, columnMode) => {
    const has = Boolean(start && end);
    if (!has && !had) return;
    had = has;
    pass(start, end, columnMode);
  };
}

// While output waits to be parsed, draw at most every RENDER_EVERY_MS
// instead of every frame: a flood is then parsed sooner rather than drawn
// 60 times a second at each intermediate screen. The bytes are all parsed
// either way; once xterm.js has caught up (typing, an echo) every frame is
// drawn as before.
const RENDER_EVERY_MS = 50;

function throttleRendersWhileBehind(term, behind) {
  const debouncer = term._core?._renderService?._renderDebouncer;
  if (typeof debouncer?._innerRefresh !== 'function') return; // another xterm.js: leave it be
  const render = debouncer._innerRefresh.bind(debouncer);
  let last = 0;
  const frame = () => {
    const now = performance.now();
    if (behind() && now - last < RENDER_EVERY_MS) {
      debouncer._animationFrame = requestAnimationFrame(frame); // still pending: look again next frame
      return;
    }
    last = now;
    render();
  };
  debouncer._innerRefresh = frame;
}

// xterm.js 6 syncs its scrollbar (dimensions, position, a fade timer) on
// every line that scrolls, synchronously: during a flood that was about a
// third of the parsing time. Sync once per drawn frame instead; the
// frame's own sync (queueSync, which passes a position) runs as before.
function syncScrollbarPerFrame(term) {
  const viewport = term._core?._viewport;
  const render = term._core?._renderService;
  if (typeof viewport?._sync !== 'function' || typeof render?.addRefreshCallback !== 'function') return;
  const sync = viewport._sync.bind(viewport);
  let queued = false;
  viewport._sync = (...args) => {
    if (args.length) return sync(...args);
    if (queued) return;
    queued = true;
    render.addRefreshCallback(() => { queued = false; sync(); });
  };
}

export class TermView {
  constructor(container, name, { onState, onStatus } = {}) {
    this.name = name;
    this.onState = onState ?? (() => {});
    this.onStatus = onStatus ?? (() => {});
    this.epoch = null;
    this.lastSeq = null;
    this.ws = null;
    this.disposed = false;
    this.backoff = 250;
    this.opened = performance.now();
    this.firstPaint = null;
    this.firstPaintAt = null;
    this.onBytes = null;
    this.bytes = 0;
    // Connect first: the handshake overlaps setting up xterm.js below (no
    // message can be handled before this constructor returns).
    this.connect();
    this.term = new Terminal({
      allowProposedApi: true,
      cursorBlink: true,
      fontSize: 13,
      scrollback: 10000,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
      theme: { background: '#0d1117' },
    });
    this.fit = new FitAddon.FitAddon();
    this.term.loadAddon(this.fit);
    this.term.loadAddon(new WebLinksAddon.WebLinksAddon());
    this.term.loadAddon(new Unicode11Addon.Unicode11Addon());
    this.term.unicode.activeVersion = '11';
    this.term.open(container);
    skipEmptySelectionRedraws(this.term);
    syncScrollbarPerFrame(this.term);
    this.unparsed = 0; // stream frames written but not yet parsed
    this.parsedOne = () => { this.unparsed--; };
    throttleRendersWhileBehind(this.term, () => this.unparsed > 0);
    this.safeFit();
    this.term.onData((d) => this.input(d));
    this.term.onResize(({ cols, rows }) => this.send({ type: 'resize', cols, rows }));
    this.observer = new ResizeObserver(() => this.safeFit());
    this.observer.observe(container);
    this.online = () => { this.backoff = 250; if (!this.ws) this.connect(); };
    window.addEventListener('online', this.online);
    window.wasmuxTerm = this; // for the browser tests and the curious
  }

  safeFit() {
    try { this.fit.fit(); } catch { /* not laid out yet */ }
  }

  send(msg) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  input(data) {
    for (let i = 0; i < data.length; i += MAX_INPUT) this.send({ type: 'input', data: data.slice(i, i + MAX_INPUT) });
  }

  /** The whole buffer as text lines (scrollback and screen). */
  lines() {
    const b = this.term.buffer.active;
    const out = [];
    for (let i = 0; i < b.length; i++) out.push(b.getLine(i)?.translateToString(true) ?? '');
    return out;
  }

  connect() {
    if (this.disposed) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}/sessions/${encodeURIComponent(this.name)}/stream`);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.onStatus('connecting');
    ws.onmessage = (m) => this.message(m.data);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.disposed) return;
      this.onStatus('reconnecting');
      setTimeout(() => { if (!this.ws) this.connect(); }, this.backoff);
      this.backoff = Math.min(this.backoff * 2, 4000);
    };
  }

  message(data) {
    if (typeof data !== 'string') {
      const view = new DataView(data);
      const seq = Number(view.getBigUint64(0));
      if (this.lastSeq !== null && seq <= this.lastSeq) return; // already shown
      const bytes = new Uint8Array(data, 8);
      this.bytes += bytes.length;
      this.lastSeq = seq;
      this.unparsed++;
      this.term.write(bytes, this.parsedOne);
      // Benchmarks watch the bytes; `parsed(cb)` runs cb once xterm.js has
      // processed everything written so far.
      this.onBytes?.(bytes, (cb) => this.term.write('', cb));
      return;
    }
    const msg = JSON.parse(data);
    switch (msg.type) {
      case 'session-meta':
        if (this.epoch !== null && msg.epoch !== this.epoch) this.lastSeq = null; // the log restarted
        this.epoch = msg.epoch;
        this.backoff = 250;
        this.onStatus('live');
        // Resize first: the stream handles messages in order, so the
        // snapshot shows the pane at our size.
        this.send({ type: 'resize', cols: this.term.cols, rows: this.term.rows });
        if (this.lastSeq === null) this.send({ type: 'snapshot-request' });
        else this.send({ type: 'resume', lastSeq: this.lastSeq, epoch: this.epoch });
        break;
      case 'snapshot':
        if (this.lastSeq !== null) break; // answered after we resumed
        this.term.reset();
        this.term.write(b64bytes(msg.data));
        this.term.write(`\x1b[${msg.cursor.y + 1};${msg.cursor.x + 1}H`, () => {
          if (this.firstPaint === null) {
            this.firstPaint = performance.now() - this.opened; // since the view opened
            this.firstPaintAt = performance.now(); // since navigation start
          }
        });
        this.lastSeq = msg.seq;
        this.send({ type: 'resume', lastSeq: msg.seq, epoch: this.epoch });
        break;
      case 'state':
        this.onState(msg);
        break;
      case 'gap':
        this.term.write(`\r\n\x1b[33m[output ${msg.from}–${msg.to} is no longer retained]\x1b[0m\r\n`);
        break;
      case 'exit':
        this.term.write(`\r\n\x1b[2m[session ended${msg.code === null ? '' : ', exit ' + msg.code}]\x1b[0m\r\n`);
        this.disposed = true; // nothing more will come
        this.onStatus('exited');
        break;
      case 'error':
        console.warn('stream:', msg.code, msg.message);
        // No snapshot (e.g. the pane is gone): replay the retained log.
        if (msg.code === 'snapshot_failed' && this.lastSeq === null) this.send({ type: 'resume', lastSeq: null });
        break;
    }
  }

  dispose() {
    this.disposed = true;
    window.removeEventListener('online', this.online);
    this.observer.disconnect();
    this.ws?.close();
    this.term.dispose();
    if (window.wasmuxTerm === this) window.wasmuxTerm = null;
  }
}

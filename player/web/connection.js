// The websocket to the Cadence server: hello on open, reconnection with exponential backoff.
//
// Events (callbacks on the options object):
//   onState({state, delayS?})  state: "connecting" | "open" | "waiting" | "stopped"
//   onOpen()                   the socket is open and hello was sent
//   onMessage(obj)             a parsed server message (JSON text frames)
//   onClose({code, reason, wasOpen})
// `stop(reason)` ends reconnection for good (unauthorized, erased); `reconnectNow()` skips the wait.

export const BACKOFF_FIRST_S = 0.5;
export const BACKOFF_MAX_S = 15;

/** The n-th reconnection delay (n = 0, 1, …): 0.5 s doubling to 15 s, with ±25 % jitter. */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** attempt);
  return base * (0.75 + 0.5 * random());
}

export function socketUrl(loc = window.location) {
  return (loc.protocol === 'https:' ? 'wss://' : 'ws://') + loc.host + '/';
}

export class Connection {
  constructor(options) {
    this.options = options;
    this.url = options.url || socketUrl();
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    this.nextId = 1;
  }

  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** A fresh message id (echoed by the server as `ref`). */
  id() {
    return this.nextId++;
  }

  connect() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.options.onState({ state: 'connecting' });
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (error) {
      this.scheduleReconnect();
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    let wasOpen = false;
    ws.addEventListener('open', () => {
      if (this.ws !== ws) {
        ws.close(1000); // abandoned while connecting (stop or restart)
        return;
      }
      wasOpen = true;
      this.sendJson({ type: 'hello', protocol: 1, client: 'cadence-web' });
      this.options.onState({ state: 'open' });
      this.options.onOpen();
    });
    ws.addEventListener('message', (event) => {
      if (this.ws !== ws || typeof event.data !== 'string') return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message && typeof message === 'object') this.options.onMessage(message);
    });
    ws.addEventListener('close', (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.options.onClose({ code: event.code, reason: event.reason, wasOpen });
      this.scheduleReconnect();
    });
    // 'error' is always followed by 'close'; nothing to do here.
  }

  /** The session is established: the next loss starts again from the shortest delay. */
  established() {
    this.attempt = 0;
  }

  scheduleReconnect(delayS) {
    if (this.stopped) {
      this.options.onState({ state: 'stopped' });
      return;
    }
    const delay = delayS === undefined ? backoffDelay(this.attempt++) : delayS;
    this.options.onState({ state: 'waiting', delayS: delay, until: performance.now() + delay * 1000 });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay * 1000);
  }

  reconnectNow() {
    this.stopped = false;
    this.attempt = 0;
    if (this.ws !== null) return;
    this.connect();
  }

  /** Close and come back at once (a setting that needs a new session changed). */
  restart() {
    this.attempt = 0;
    if (this.ws === null) {
      this.connect();
      return;
    }
    const ws = this.ws;
    this.ws = null;
    this.sendOn(ws, { type: 'session.end' });
    ws.close(1000, 'restart');
    this.options.onClose({ code: 1000, reason: 'restart', wasOpen: true });
    this.connect();
  }

  /** No more reconnection (the server refused us for a reason waiting does not fix). */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
    if (this.ws !== null) {
      const ws = this.ws;
      this.ws = null;
      if (ws.readyState === WebSocket.OPEN) ws.close(1000);
    }
    this.options.onState({ state: 'stopped' });
  }

  /** End the session politely (page going away); no reconnection. */
  end() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws !== null && this.ws.readyState === WebSocket.OPEN) {
      this.sendOn(this.ws, { type: 'session.end' });
    }
  }

  sendOn(ws, message) {
    if (ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(message));
    return true;
  }

  /** Send a JSON message; false when the socket is not open (the message is dropped). */
  sendJson(message) {
    return this.ws !== null && this.sendOn(this.ws, message);
  }

  /** Send a binary frame; false when the socket is not open. */
  sendBinary(buffer) {
    if (!this.open) return false;
    this.ws.send(buffer);
    return true;
  }
}

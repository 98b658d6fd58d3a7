// The microphone: getUserMedia → MediaStreamSource → the capture worklet (16 kHz s16le chunks).
//
// A Mic is created once; `open()` acquires the microphone (only ever called from a user action) and
// starts posting chunks to `onChunk(arrayBuffer)`; `close()` flushes what is buffered, then releases
// the microphone (its tracks are stopped, so the browser's own indicator goes off too).

export const MIC_CONSTRAINTS = {
  audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
};

/** A human sentence for a getUserMedia / AudioContext failure. */
export function micErrorMessage(error) {
  const name = error && error.name;
  if (name === 'NotAllowedError' || name === 'SecurityError') {
    return 'Microphone access was refused. Allow the microphone for this site in the browser’s settings to talk — typing a mood still works.';
  }
  if (name === 'NotFoundError' || name === 'OverconstrainedError') {
    return 'No microphone was found. Plug one in to talk — typing a mood still works.';
  }
  if (name === 'NotReadableError' || name === 'AbortError') {
    return 'The microphone is busy or could not be started (another app may be using it). Typing a mood still works.';
  }
  if (name === 'InsecureContext') {
    return 'The browser allows the microphone only on a secure page (https:// or localhost). Typing a mood still works.';
  }
  return `The microphone could not be started (${(error && error.message) || error}). Typing a mood still works.`;
}

function insecure() {
  const error = new Error('insecure context');
  error.name = 'InsecureContext';
  return error;
}

export class Mic {
  /**
   * @param {{workletUrl: string, onChunk: (buf: ArrayBuffer) => void, onLevel?: (rms: number) => void,
   *          onLive?: (live: boolean) => void, onEnded?: () => void}} options
   */
  constructor(options) {
    this.workletUrl = options.workletUrl;
    this.onChunk = options.onChunk;
    this.onLevel = options.onLevel || (() => {});
    this.onLive = options.onLive || (() => {});
    this.onEnded = options.onEnded || (() => {});
    this.context = null;
    this.workletReady = null;
    this.stream = null;
    this.source = null;
    this.node = null;
    this.generation = 0;
  }

  get live() {
    return this.stream !== null && this.stream.getAudioTracks().some((t) => t.readyState === 'live');
  }

  /** The AudioContext, created (or resumed) inside a user action. */
  async ensureContext() {
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw insecure();
    }
    if (this.context === null) {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      this.context = new Ctx({ latencyHint: 'interactive' });
      if (!this.context.audioWorklet) throw insecure();
      this.workletReady = this.context.audioWorklet.addModule(this.workletUrl);
    }
    if (this.context.state === 'suspended') {
      // Not awaited on purpose: resume() may wait for the audio device, getUserMedia must not wait on it.
      this.context.resume().catch(() => {});
    }
    return this.context;
  }

  /**
   * Acquire the microphone and start posting chunks. Resolves true when audio flows, false when
   * `close()` was called meanwhile (the microphone is then released again at once).
   */
  async open() {
    const generation = ++this.generation;
    const context = await this.ensureContext();
    const [stream] = await Promise.all([navigator.mediaDevices.getUserMedia(MIC_CONSTRAINTS), this.workletReady]);
    if (generation !== this.generation) {
      for (const track of stream.getTracks()) track.stop();
      return false;
    }
    if (context.state === 'suspended') await context.resume();
    this.stream = stream;
    for (const track of stream.getAudioTracks()) {
      track.addEventListener('ended', () => {
        if (this.stream === stream) {
          this.release();
          this.onEnded();
        }
      });
    }
    this.source = context.createMediaStreamSource(stream);
    this.node = new AudioWorkletNode(context, 'cadence-capture', {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      channelCountMode: 'explicit',
      channelCount: 2,
      channelInterpretation: 'speakers',
    });
    this.node.port.onmessage = (event) => this.received(event.data);
    this.source.connect(this.node);
    // The node's output is silence; connecting it keeps the graph pulling it in every browser.
    this.node.connect(context.destination);
    this.onLive(true);
    return true;
  }

  received(data) {
    if (data && data.pcm) {
      this.onChunk(data.pcm);
      this.onLevel(data.level);
    }
    if (data && data.flushed && this.flushed) {
      const done = this.flushed;
      this.flushed = null;
      done();
    }
  }

  /** Post what the worklet still buffers (waits at most 250 ms), then release the microphone. */
  async close() {
    this.generation++;
    if (this.node !== null) {
      const node = this.node;
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, 250);
        this.flushed = () => {
          clearTimeout(timer);
          resolve();
        };
        node.port.postMessage({ type: 'flush' });
      });
    }
    this.release();
  }

  /** Stop the microphone now, without flushing. */
  release() {
    this.generation++;
    this.flushed = null;
    if (this.node !== null) {
      this.node.port.postMessage({ type: 'stop' });
      this.node.port.onmessage = null;
      try {
        this.source.disconnect();
        this.node.disconnect();
      } catch {
        // already disconnected
      }
      this.node = null;
      this.source = null;
    }
    const wasLive = this.stream !== null;
    if (this.stream !== null) {
      for (const track of this.stream.getTracks()) track.stop();
      this.stream = null;
    }
    this.onLevel(0);
    if (wasLive) this.onLive(false);
  }
}

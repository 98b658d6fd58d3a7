// Cadence microphone capture: an AudioWorklet processor.
//
// Takes the input at the AudioContext's rate (`sampleRate`, a global of the worklet scope), mixes it
// down to mono, low-passes it with a windowed-sinc FIR (cutoff below the 8 kHz Nyquist of the
// output), resamples it to 16 kHz by linear interpolation between filtered samples, converts to
// 16-bit signed PCM and posts chunks of 640 samples (40 ms) to the main thread as transferable
// ArrayBuffers: {pcm: ArrayBuffer, level: RMS 0..1}.
//
// Messages from the main thread: {type: "flush"} posts what is buffered (possibly a short chunk)
// followed by {flushed: true}; {type: "stop"} ends processing.

const OUT_RATE = 16000;
const CHUNK = 640;
const TAPS = 63;

/** A Blackman-windowed sinc low-pass, `cutoff` in cycles per input sample (< 0.5), unit DC gain. */
function lowpass(cutoff, taps) {
  const h = new Float32Array(taps);
  const mid = (taps - 1) / 2;
  let sum = 0;
  for (let i = 0; i < taps; i++) {
    const x = i - mid;
    const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
    const w = 0.42 - 0.5 * Math.cos((2 * Math.PI * i) / (taps - 1)) + 0.08 * Math.cos((4 * Math.PI * i) / (taps - 1));
    h[i] = sinc * w;
    sum += h[i];
  }
  for (let i = 0; i < taps; i++) h[i] /= sum;
  return h;
}

class CaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.inRate = sampleRate;
    this.ratio = this.inRate / OUT_RATE; // input samples per output sample
    // Cut off at 90 % of the output's Nyquist frequency (7.2 kHz), or of the input's if lower.
    const cutoffHz = 0.45 * Math.min(OUT_RATE, this.inRate);
    this.filter = this.ratio > 1.0001 ? lowpass(cutoffHz / this.inRate, TAPS) : null;
    this.delay = new Float32Array(TAPS * 2); // doubled ring buffer: a contiguous window at any offset
    this.pos = 0;
    this.prev = 0; // the previous filtered input sample
    this.phase = 0; // position of the next output sample, in input samples after `prev`
    this.out = new Int16Array(CHUNK);
    this.fill = 0;
    this.sumSquares = 0;
    this.running = true;
    this.port.onmessage = (event) => {
      const type = event.data && event.data.type;
      if (type === 'flush') {
        this.post(true);
        this.port.postMessage({ flushed: true });
      } else if (type === 'stop') {
        this.running = false;
      }
    };
  }

  post(partial) {
    if (this.fill === 0) return;
    const n = partial ? this.fill : CHUNK;
    const pcm = this.out.slice(0, n).buffer;
    const level = Math.sqrt(this.sumSquares / n);
    this.port.postMessage({ pcm, level }, [pcm]);
    this.fill = 0;
    this.sumSquares = 0;
  }

  emit(value) {
    const v = value > 1 ? 1 : value < -1 ? -1 : value;
    this.out[this.fill++] = v < 0 ? Math.round(v * 32768) : Math.round(v * 32767);
    this.sumSquares += v * v;
    if (this.fill === CHUNK) this.post(false);
  }

  filtered(x) {
    const h = this.filter;
    if (h === null) return x;
    const d = this.delay;
    d[this.pos] = x;
    d[this.pos + TAPS] = x;
    this.pos = (this.pos + 1) % TAPS;
    // d[pos .. pos + TAPS) holds the last TAPS samples, oldest first.
    let acc = 0;
    const base = this.pos;
    for (let k = 0; k < TAPS; k++) acc += h[k] * d[base + k];
    return acc;
  }

  process(inputs) {
    if (!this.running) return false;
    const input = inputs[0];
    if (!input || input.length === 0) return true;
    const channels = input.length;
    const frames = input[0].length;
    const ratio = this.ratio;
    for (let i = 0; i < frames; i++) {
      let x = 0;
      for (let c = 0; c < channels; c++) x += input[c][i];
      x /= channels;
      const y = this.filtered(x);
      // Output samples that fall between `prev` (at 0) and `y` (at 1).
      while (this.phase <= 1) {
        this.emit(this.prev + (y - this.prev) * this.phase);
        this.phase += ratio;
      }
      this.phase -= 1;
      this.prev = y;
    }
    return true;
  }
}

registerProcessor('cadence-capture', CaptureProcessor);

// The session chart: valence and energy over time (x = seconds since the page loaded), drawn on a
// <canvas> at the device's pixel ratio. Marks: speech (shaded spans), requests (labelled with the
// intent kinds), skips (ticks on the time axis), and the queue's target as dashed steps.
//
// Colours come from CSS custom properties on the canvas (--c-valence, --c-energy, --c-speech,
// --c-request, --c-skip, --c-grid, --c-text), so the stylesheet's themes apply.

const PAD = { left: 30, right: 10, top: 20, bottom: 22 };
const TICK_STEPS = [10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];

/** Seconds since the page loaded. */
export function pageSeconds() {
  return performance.now() / 1000;
}

export function formatClock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`;
}

export class Chart {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.moods = []; // {t, valence, energy, vc, ec}
    this.targets = []; // {t, valence, energy}
    this.speech = []; // {t0, t1} (t1 null while speaking)
    this.requests = []; // {t, kinds}
    this.skips = []; // {t}
    this.size = { w: 0, h: 0, dpr: 0 };
    this.scheduled = false;
    if (typeof ResizeObserver === 'function') {
      new ResizeObserver(() => this.draw()).observe(canvas);
    }
    window.addEventListener('resize', () => this.draw());
  }

  addMood(t, m) {
    this.moods.push({ t, valence: m.valence, energy: m.energy, vc: m.valence_confidence, ec: m.energy_confidence });
    this.redraw();
  }

  addTarget(t, target) {
    this.targets.push({ t, valence: target.valence, energy: target.energy });
    this.redraw();
  }

  /** A stretch of speech: open it with `end` null, close it later with `endSpeech`. */
  startSpeech(t) {
    const last = this.speech[this.speech.length - 1];
    if (last && last.t1 === null) return;
    this.speech.push({ t0: t, t1: null });
    this.redraw();
  }

  endSpeech(t) {
    const last = this.speech[this.speech.length - 1];
    if (last && last.t1 === null) last.t1 = Math.max(t, last.t0);
    this.redraw();
  }

  /** A voice utterance known only afterwards (its mood): a closed span, unless one covers it. */
  addSpeech(t0, t1) {
    const covered = this.speech.some((s) => s.t0 <= t0 + 0.5 && (s.t1 === null || s.t1 >= t1 - 0.5));
    if (!covered) this.speech.push({ t0, t1 });
    this.redraw();
  }

  addRequest(t, kinds) {
    this.requests.push({ t, kinds });
    this.redraw();
  }

  addSkip(t) {
    this.skips.push({ t });
    this.redraw();
  }

  redraw() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.draw();
    });
  }

  summary() {
    const last = this.moods[this.moods.length - 1];
    if (!last) return 'Chart of valence and energy over this session: no moods yet';
    return (
      `Chart of valence and energy over this session: ${this.moods.length} mood readings, latest valence ` +
      `${last.valence.toFixed(2)} and energy ${last.energy.toFixed(2)}; ${this.requests.length} requests, ` +
      `${this.skips.length} skips`
    );
  }

  resize() {
    const dpr = window.devicePixelRatio || 1;
    const w = this.canvas.clientWidth;
    const h = this.canvas.clientHeight;
    if (w !== this.size.w || h !== this.size.h || dpr !== this.size.dpr) {
      this.size = { w, h, dpr };
      this.canvas.width = Math.max(1, Math.round(w * dpr));
      this.canvas.height = Math.max(1, Math.round(h * dpr));
    }
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return { w, h };
  }

  draw() {
    const { w, h } = this.resize();
    if (w === 0 || h === 0) return;
    const ctx = this.ctx;
    const css = getComputedStyle(this.canvas);
    const color = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
    const c = {
      valence: color('--c-valence', '#f5b942'),
      energy: color('--c-energy', '#4cc3ff'),
      speech: color('--c-speech', 'rgba(255,255,255,0.12)'),
      request: color('--c-request', '#c79bff'),
      skip: color('--c-skip', '#ff6b6b'),
      grid: color('--c-grid', 'rgba(255,255,255,0.12)'),
      text: color('--c-text', '#a9a9b8'),
    };
    const font = css.fontFamily || 'sans-serif';
    ctx.clearRect(0, 0, w, h);

    const now = pageSeconds();
    const first = Math.min(
      now,
      ...this.moods.map((m) => m.t),
      ...this.targets.map((m) => m.t),
      ...this.speech.map((s) => s.t0),
    );
    const span = Math.max(60, now - Math.min(first, 0));
    const x0 = PAD.left;
    const x1 = w - PAD.right;
    const y0 = PAD.top;
    const y1 = h - PAD.bottom;
    const X = (t) => x0 + ((x1 - x0) * t) / span;
    const Y = (v) => y1 - (y1 - y0) * Math.min(1, Math.max(0, v));

    // Speech spans.
    ctx.fillStyle = c.speech;
    for (const s of this.speech) {
      const a = X(s.t0);
      const b = X(s.t1 === null ? now : s.t1);
      ctx.fillRect(a, y0, Math.max(2, b - a), y1 - y0);
    }

    // Grid and axes labels.
    ctx.strokeStyle = c.grid;
    ctx.lineWidth = 1;
    ctx.fillStyle = c.text;
    ctx.font = `11px ${font}`;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (const v of [0, 0.25, 0.5, 0.75, 1]) {
      const y = Math.round(Y(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x0, y);
      ctx.lineTo(x1, y);
      ctx.stroke();
      if (v === 0 || v === 0.5 || v === 1) ctx.fillText(String(v), x0 - 5, y);
    }
    const step = TICK_STEPS.find((s) => span / s <= Math.max(2, Math.floor((x1 - x0) / 70))) || 3600;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (let t = 0; t <= span + 0.001; t += step) {
      const x = Math.round(X(t)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, y1);
      ctx.lineTo(x, y1 + 4);
      ctx.stroke();
      ctx.fillText(formatClock(t), Math.min(x1 - 12, Math.max(x0 + 12, x)), y1 + 6);
    }

    // The queue's target, as dashed steps held until the next queue (and until now).
    ctx.setLineDash([4, 4]);
    ctx.lineWidth = 1.25;
    for (const [key, col] of [['valence', c.valence], ['energy', c.energy]]) {
      if (this.targets.length === 0) continue;
      ctx.strokeStyle = col;
      ctx.globalAlpha = 0.55;
      ctx.beginPath();
      this.targets.forEach((p, i) => {
        const next = i + 1 < this.targets.length ? this.targets[i + 1].t : now;
        if (i === 0) ctx.moveTo(X(p.t), Y(p[key]));
        else ctx.lineTo(X(p.t), Y(p[key]));
        ctx.lineTo(X(next), Y(p[key]));
      });
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
    ctx.setLineDash([]);

    // Mood readings: lines through the axes that had evidence, dots sized by confidence.
    for (const [key, conf, col] of [['valence', 'vc', c.valence], ['energy', 'ec', c.energy]]) {
      const pts = this.moods.filter((m) => m[conf] > 0);
      ctx.strokeStyle = col;
      ctx.fillStyle = col;
      ctx.lineWidth = 2;
      if (pts.length > 1) {
        ctx.beginPath();
        pts.forEach((p, i) => (i === 0 ? ctx.moveTo(X(p.t), Y(p[key])) : ctx.lineTo(X(p.t), Y(p[key]))));
        ctx.stroke();
      }
      for (const p of pts) {
        ctx.beginPath();
        ctx.arc(X(p.t), Y(p[key]), 2.5 + 3 * Math.min(1, p[conf]), 0, 2 * Math.PI);
        ctx.fill();
      }
    }

    // Requests: a vertical line and the intent kinds above the plot (staggered when close).
    ctx.font = `10px ${font}`;
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    let lastLabelEnd = -Infinity;
    let row = 0;
    for (const r of this.requests) {
      const x = Math.round(X(r.t)) + 0.5;
      ctx.strokeStyle = c.request;
      ctx.fillStyle = c.request;
      ctx.setLineDash([2, 3]);
      ctx.beginPath();
      ctx.moveTo(x, y0);
      ctx.lineTo(x, y1);
      ctx.stroke();
      ctx.setLineDash([]);
      const label = r.kinds.join(', ');
      const width = ctx.measureText(label).width;
      row = x < lastLabelEnd + 4 ? 1 - row : 0;
      const lx = Math.min(x + 3, x1 - width);
      ctx.fillText(label, lx, row === 0 ? 2 : 11);
      lastLabelEnd = lx + width;
    }

    // Skips: a small red triangle on the time axis.
    ctx.fillStyle = c.skip;
    ctx.strokeStyle = c.skip;
    for (const s of this.skips) {
      const x = X(s.t);
      ctx.globalAlpha = 0.5;
      ctx.beginPath();
      ctx.moveTo(x, y0);
      ctx.lineTo(x, y1);
      ctx.stroke();
      ctx.globalAlpha = 1;
      ctx.beginPath();
      ctx.moveTo(x - 5, y1 - 8);
      ctx.lineTo(x + 5, y1 - 8);
      ctx.lineTo(x, y1);
      ctx.closePath();
      ctx.fill();
    }

    // Now.
    ctx.strokeStyle = c.text;
    ctx.globalAlpha = 0.4;
    ctx.beginPath();
    ctx.moveTo(Math.round(X(now)) + 0.5, y0);
    ctx.lineTo(Math.round(X(now)) + 0.5, y1);
    ctx.stroke();
    ctx.globalAlpha = 1;

    this.canvas.setAttribute('aria-label', this.summary());
  }
}

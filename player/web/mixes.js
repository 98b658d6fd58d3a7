// The listener's mixes (`mixes.list` → `mixes`): one button per mix, with its cover art or a neutral
// tile, its title, description and track count. Picking one (click, or Enter on the focused button)
// calls `onPick(mix)`; app.js sends `mix.play` and shows the mix over "Up next".

// What the neutral tile says for each kind of mix; an activity mix's tile says its title (Workout…).
const KIND_NAMES = {
  daylist: 'Daylist',
  on_repeat: 'On Repeat',
  daily: 'Daily Mix',
  discover: 'Discover',
  release_radar: 'New',
  repeat_rewind: 'Rewind',
};

const REFRESH = {
  daily: 'new every day',
  weekly: 'new every week',
  daypart: 'changes through the day',
};

/** The well-formed mixes of a `mixes` message, in its order (anything malformed is left out). */
export function readMixes(message) {
  const items = message && Array.isArray(message.mixes) ? message.mixes : [];
  const seen = new Set();
  const mixes = [];
  for (const m of items) {
    if (!m || typeof m.id !== 'string' || !m.id || seen.has(m.id)) continue;
    seen.add(m.id);
    mixes.push({
      id: m.id,
      kind: typeof m.kind === 'string' ? m.kind : '',
      title: typeof m.title === 'string' && m.title ? m.title : m.id,
      description: typeof m.description === 'string' ? m.description : '',
      count: Number.isInteger(m.count) && m.count >= 0 ? m.count : null,
      refresh: typeof m.refresh === 'string' ? m.refresh : '',
      art_url: typeof m.art_url === 'string' && m.art_url.startsWith('/') ? m.art_url : null,
    });
  }
  return mixes;
}

/** "30 tracks · new every day". */
export function mixMeta(mix) {
  const parts = [];
  if (mix.count !== null) parts.push(mix.count === 1 ? '1 track' : `${mix.count} tracks`);
  if (REFRESH[mix.refresh]) parts.push(REFRESH[mix.refresh]);
  return parts.join(' · ');
}

function span(className, text) {
  const s = document.createElement('span');
  s.className = className;
  s.textContent = text;
  return s;
}

/** The neutral tile shown instead of cover art: the kind's name on a plain background. */
function tile(mix) {
  const t = span('mix-tile', KIND_NAMES[mix.kind] || (mix.kind === 'activity' ? mix.title : 'Mix'));
  t.dataset.kind = mix.kind;
  t.setAttribute('aria-hidden', 'true');
  return t;
}

function picture(mix) {
  if (!mix.art_url) return tile(mix);
  const img = document.createElement('img');
  img.className = 'mix-art';
  img.alt = '';
  img.width = 64;
  img.height = 64;
  img.loading = 'lazy';
  img.decoding = 'async';
  img.addEventListener('error', () => img.replaceWith(tile(mix)), { once: true });
  img.src = mix.art_url;
  return img;
}

export class MixList {
  /**
   * @param {HTMLUListElement} list the <ul> the mixes go in
   * @param {{onPick: (mix: object) => void}} hooks
   */
  constructor(list, hooks) {
    this.list = list;
    this.hooks = hooks;
    this.mixes = [];
    this.current = null; // id of the mix the queues come from
    this.pending = null; // id of the mix asked for, its queue not here yet
  }

  byId(id) {
    return this.mixes.find((m) => m.id === id) || null;
  }

  render(mixes) {
    // Keep the keyboard focus on the same mix when the list is re-drawn under it.
    const focused = this.list.contains(document.activeElement) ? document.activeElement.dataset.mixId : null;
    this.mixes = mixes;
    this.list.replaceChildren(
      ...mixes.map((mix, index) => {
        const li = document.createElement('li');
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'mix';
        button.dataset.mixId = mix.id;
        button.dataset.kind = mix.kind;
        const text = document.createElement('span');
        text.className = 'mix-text';
        const title = span('mix-title', mix.title);
        const description = span('mix-desc', mix.description);
        description.id = `mix-desc-${index}`;
        const meta = span('mix-meta', mixMeta(mix));
        meta.id = `mix-meta-${index}`;
        text.append(title, description, meta);
        button.append(picture(mix), text);
        button.setAttribute('aria-label', `Play the mix ${mix.title}`);
        button.setAttribute('aria-describedby', `${description.id} ${meta.id}`);
        button.addEventListener('click', () => this.hooks.onPick(mix));
        li.append(button);
        return li;
      }),
    );
    this.mark();
    if (focused) {
      const again = this.list.querySelector(`button[data-mix-id="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
  }

  /** Which mix plays (`current`) and which was just asked for (`pending`); null for none. */
  setState(current, pending) {
    this.current = current;
    this.pending = pending;
    this.mark();
  }

  mark() {
    for (const button of this.list.querySelectorAll('button.mix')) {
      const id = button.dataset.mixId;
      if (id === this.current) button.setAttribute('aria-current', 'true');
      else button.removeAttribute('aria-current');
      button.dataset.state = id === this.pending ? 'starting' : id === this.current ? 'playing' : '';
    }
  }
}

// Cadence web client: wires the websocket (connection.js), playback (player.js), the microphone
// (mic.js + worklet.js), the mood chart (chart.js) and the listener's mixes (mixes.js) to the page.

import { Chart, formatClock, pageSeconds } from './chart.js';
import { Connection } from './connection.js';
import { Mic, micErrorMessage } from './mic.js';
import { MixList, readMixes } from './mixes.js';
import { Player } from './player.js';

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------
// Small helpers

const storage = {
  get(key) {
    try {
      return window.localStorage.getItem(key);
    } catch {
      return null;
    }
  },
  set(key, value) {
    try {
      window.localStorage.setItem(key, value);
    } catch {
      // storage disabled (private mode): the value lasts for this page only
    }
  },
};

function randomHex(bytes) {
  const a = new Uint8Array(bytes);
  crypto.getRandomValues(a);
  return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** This browser's listener id, generated once and kept in localStorage. */
function listenerId() {
  let id = storage.get('cadence.listener_id');
  if (!id || !/^web-[0-9a-f]{8,64}$/.test(id)) {
    id = `web-${randomHex(8)}`;
    storage.set('cadence.listener_id', id);
  }
  return id;
}

const pad2 = (n) => String(n).padStart(2, '0');

/** `date` as local ISO 8601 with its UTC offset, e.g. 2026-05-04T07:30:00+02:00. */
export function localIso(date) {
  const offset = -date.getTimezoneOffset(); // minutes east of UTC
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return (
    `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())}` +
    `T${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}` +
    `${sign}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`
  );
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const PARTS_OF_DAY = [[5, 'morning'], [12, 'afternoon'], [17, 'evening'], [22, 'night']];

/** "Monday morning", named as the server names it (the small hours belong to the night before). */
export function partOfDay(date) {
  const hour = date.getHours();
  let part = 'night';
  for (const [start, name] of PARTS_OF_DAY) if (hour >= start) part = name;
  const day = hour >= PARTS_OF_DAY[0][0] ? date.getDay() : (date.getDay() + 6) % 7;
  return `${DAYS[day]} ${part}`;
}

/** Changes whenever the server's mixes may: each day, and each part of it (the daylist). */
function mixesEpoch(date) {
  return `${date.toDateString()} ${partOfDay(date)}`;
}

/** "Monday morning, 07:30". */
export function daypart(date) {
  return `${partOfDay(date)}, ${pad2(date.getHours())}:${pad2(date.getMinutes())}`;
}

/** A human message for every error code of the protocol. */
const ERROR_MESSAGES = {
  invalid_json: 'The server could not read a message from this page. Reload the page if it keeps happening.',
  unknown_type: 'The server did not recognise a message from this page; the page may be out of date. Reload it.',
  missing_field: 'A message from this page was incomplete. Reload the page if it keeps happening.',
  bad_field:
    'The server refused a value this page sent. If it is about the time, check the clock and time zone of this device.',
  frame_too_large: 'That was too much to send at once. Try something shorter.',
  not_started: 'The session was not ready yet. Try again in a moment.',
  already_started: 'The server thought a session or a recording was already running. Try again.',
  unsupported_protocol: 'This page and the server speak different protocol versions. Reload the page.',
  unauthorized:
    'This page must be opened with its access link, the address ending in “?token=…”. Ask whoever runs the server for it and open it once; this browser then stays signed in.',
  binary_outside_audio: 'Microphone audio reached the server when it was not listening; it was ignored.',
  unsupported_audio_format: 'The server does not accept the audio format of this microphone.',
  audio_too_long: 'That was too long to analyse in one go (the limit is 30 seconds). Pause between sentences.',
  audio_empty: 'No audio reached the server. Hold the button a little longer while you speak.',
  audio_not_finite: 'The microphone sent corrupted audio. Try again.',
  audio_silent: 'The server heard only silence: is the microphone muted?',
  no_speech: 'I could not make out any words. Try again, a little closer to the microphone.',
  unknown_track: 'The server does not know that track (the library may have changed).',
  unknown_mix:
    'That mix is not there any more (mixes change with the day and with what you play). Here are your mixes as they are now.',
  library_empty: 'The music library on the server is empty. Add music with “cadence scan”, then reload.',
  rate_limited: 'The server is getting messages faster than it takes them; some were dropped. Slow down a little.',
  busy: 'The server is busy analysing other voices and dropped that one. Try again in a moment.',
  too_many_sessions: 'The server has too many listeners right now. Trying again shortly…',
  listener_erased:
    'Your listening history was erased on the server and this session was closed. Press “Reconnect now” to start afresh.',
  engine_unavailable: 'The server’s speech models are missing, so it cannot hear you. Typing a mood still works.',
  internal: 'Something went wrong on the server.',
};

export function errorMessage(error) {
  const base = ERROR_MESSAGES[error.code] || `The server reported a problem (${error.code}).`;
  if (error.code === 'internal' && error.message) return `${base} (${error.message})`;
  return base;
}

const TRIGGERS = {
  start: 'for this time of day',
  mood: 'for your mood',
  intent: 'for your request',
  skip: 'updated after a skip',
  next: 'more picks',
  mix: 'your pick',
};

// ---------------------------------------------------------------------------------------------
// Page state

const el = {
  conn: $('conn'),
  connText: $('conn-text'),
  reconnect: $('reconnect'),
  status: $('status'),
  micIndicator: $('mic-indicator'),
  np: document.querySelector('.nowplaying'),
  art: $('np-art'),
  title: $('np-title'),
  artist: $('np-artist'),
  reason: $('np-reason'),
  bar: $('np-bar'),
  elapsed: $('np-elapsed'),
  remaining: $('np-remaining'),
  startPlayback: $('start-playback'),
  play: $('btn-play'),
  skip: $('btn-skip'),
  like: $('btn-like'),
  dislike: $('btn-dislike'),
  ptt: $('ptt'),
  pttLabel: $('ptt-label'),
  handsfree: $('handsfree'),
  vadDot: $('vad-dot'),
  vadText: $('vad-text'),
  level: $('mic-level'),
  micMessage: $('mic-message'),
  form: $('text-form'),
  input: $('text-input'),
  consent: $('consent'),
  sessionTime: $('session-time'),
  listener: $('listener-id'),
  transcript: $('transcript'),
  label: $('mood-label'),
  intents: $('mood-intents'),
  source: $('mood-source'),
  valenceBar: $('valence-bar'),
  valenceVal: $('valence-val'),
  valenceConfBar: $('valence-conf-bar'),
  valenceConf: $('valence-conf'),
  energyBar: $('energy-bar'),
  energyVal: $('energy-val'),
  energyConfBar: $('energy-conf-bar'),
  energyConf: $('energy-conf'),
  upnext: $('upnext'),
  upnextHeading: $('upnext-heading'),
  upnextWhy: $('upnext-why'),
  upnextEmpty: $('upnext-empty'),
  upnextMix: $('upnext-mix'),
  upnextMixTitle: $('upnext-mix-title'),
  mixLeave: $('mix-leave'),
  mixesDetails: $('mixes-details'),
  mixesList: $('mixes-list'),
  mixesEmpty: $('mixes-empty'),
  mixesCount: $('mixes-count'),
};

const PLACEHOLDER_ART = '/static/icon.svg';
const me = listenerId();
let sessionReady = false; // welcome received and session.start sent on this connection
let sessionLive = false; // ... and its first queue received: the server takes every message now
let nextRequested = false;
let queuesSeen = 0;
const unacked = new Map(); // message id → playback message (acks may come late, or never)
const offline = []; // playback events that happened while disconnected, sent on the next session

const chart = new Chart($('chart'));

// ---------------------------------------------------------------------------------------------
// Status area

let statusTimer = null;

function say(text, { error = false, sticky = false } = {}) {
  clearTimeout(statusTimer);
  el.status.textContent = text;
  el.status.dataset.kind = error ? 'error' : 'info';
  if (text && !sticky) statusTimer = setTimeout(() => say(''), error ? 15000 : 6000);
}

// ---------------------------------------------------------------------------------------------
// Connection

const conn = new Connection({
  onState: showConnection,
  onOpen: () => {},
  onMessage: handleMessage,
  onClose: ({ code }) => {
    sessionReady = false;
    sessionLive = false;
    nextRequested = false;
    mixesLost();
    micLost();
    if (code === 1013) say(ERROR_MESSAGES.too_many_sessions, { error: true });
  },
});

let countdown = null;

function showConnection({ state, until }) {
  clearInterval(countdown);
  countdown = null;
  el.conn.dataset.state = state;
  el.reconnect.hidden = state === 'open' || state === 'connecting';
  if (state === 'connecting') el.connText.textContent = 'Connecting…';
  else if (state === 'open') el.connText.textContent = 'Starting session…';
  else if (state === 'stopped') el.connText.textContent = 'Disconnected';
  else if (state === 'waiting') {
    const tick = () => {
      const s = Math.max(0, Math.ceil((until - performance.now()) / 1000));
      el.connText.textContent = `Connection lost · retrying in ${s} s`;
    };
    tick();
    countdown = setInterval(tick, 500);
  }
  updateControls();
}

function send(message) {
  return conn.sendJson(message);
}

function startSession() {
  const now = new Date();
  const start = {
    type: 'session.start',
    local_time: localIso(now),
    device: 'web',
    listener_id: me,
    store_transcripts: el.consent.checked,
    id: conn.id(),
  };
  send(start);
  sessionReady = true;
  el.sessionTime.textContent = daypart(now);
  el.sessionTime.title = start.local_time;
  el.connText.textContent = 'Connected';
  conn.established();
  // Events that happened while offline, then what is playing now, so that the new session knows
  // the track a spoken "skip" or "I love this" is about.
  for (const message of offline.splice(0)) sendPlayback(message);
  if (player.nowPlaying !== null && player.startedReported && !player.paused) {
    report('started', player.nowPlaying.id, player.position);
  }
  if (handsFree) micStart();
}

function handleMessage(message) {
  switch (message.type) {
    case 'welcome':
      startSession();
      break;
    case 'queue':
      onQueue(message);
      break;
    case 'mixes':
      onMixes(message);
      break;
    case 'mood':
      onMood(message);
      break;
    case 'vad':
      onVad(message);
      break;
    case 'transcript.partial':
      onPartial(message);
      break;
    case 'ack':
      if (message.ref !== undefined) unacked.delete(message.ref);
      if (message.of === 'audio.stop') chart.endSpeech(pageSeconds());
      break;
    case 'control':
      onControl(message);
      break;
    case 'error':
      onError(message);
      break;
    default:
      break; // a newer server's message this page does not know
  }
}

function onError(error) {
  say(errorMessage(error), { error: true, sticky: error.code === 'unauthorized' || error.code === 'listener_erased' });
  if (error.code === 'unauthorized' || error.code === 'listener_erased') {
    conn.stop();
  }
  if (error.code === 'engine_unavailable') {
    handsFreeOff();
  }
  if (error.code === 'unknown_mix') {
    mixUnknown(error);
  }
}

// ---------------------------------------------------------------------------------------------
// Playback

const player = new Player([$('deck-a'), $('deck-b')], {
  report,
  onChange: renderNowPlaying,
  onTime: renderTime,
  onLow: askForMore,
  onBlocked: (blocked) => {
    el.startPlayback.hidden = !blocked;
    if (blocked) say('The browser is waiting for you before it plays sound: press play to start.');
  },
  onProblem: (text) => say(text, { error: true }),
});

function sendPlayback(message) {
  if (sessionReady && send(message)) {
    unacked.set(message.id, message);
    if (unacked.size > 200) unacked.delete(unacked.keys().next().value);
  } else if (offline.length < 50) {
    offline.push(message);
  }
}

function report(event, trackId, positionS) {
  const position = Math.max(0, Math.round((Number.isFinite(positionS) ? positionS : 0) * 1000) / 1000);
  sendPlayback({ type: 'playback', event, track_id: trackId, position_s: position, id: conn.id() });
}

function askForMore() {
  if (nextRequested || !sessionReady) return;
  nextRequested = send({ type: 'next', count: 10, id: conn.id() });
}

function onQueue(message) {
  queuesSeen += 1;
  nextRequested = false;
  const tracks = Array.isArray(message.tracks) ? message.tracks : [];
  if (message.target) chart.addTarget(pageSeconds(), message.target);
  const asked = mixQueue(message);
  el.upnext.dataset.queues = String(queuesSeen);
  el.upnext.dataset.trigger = message.trigger || '';
  if (message.trigger === 'mix' && currentMix === null) el.upnextWhy.textContent = '· all music again';
  else el.upnextWhy.textContent = TRIGGERS[message.trigger] ? `· ${TRIGGERS[message.trigger]}` : '';
  // A mix the listener just picked plays at once; any other queue waits for the playing track.
  if (asked) player.playNow(tracks);
  else player.setQueue(tracks);
  renderUpNext();
  if (!sessionLive) {
    sessionLive = true;
    sessionStarted();
  }
}

function onControl(message) {
  if (message.action === 'skip') {
    chart.addSkip(pageSeconds());
    say('Skipped, as you asked.');
    player.skipByServer();
  } else if (message.action === 'stop') {
    player.pause();
    say('Paused, as you asked. Press play (or K) to resume.');
  }
}

function userSkip() {
  if (player.nowPlaying === null) return;
  chart.addSkip(pageSeconds());
  player.skip();
}

function userRate(event) {
  const track = player.nowPlaying;
  if (track && player.rate(event)) {
    say(event === 'liked' ? `Liked “${track.title}”.` : `Disliked “${track.title}”: the queue will move away from it.`);
  }
}

function userToggle() {
  if (player.nowPlaying === null) return;
  player.toggle();
}

function renderNowPlaying() {
  const track = player.nowPlaying;
  el.np.dataset.trackId = track === null ? '' : track.id;
  if (track === null) {
    el.title.textContent = 'Nothing playing';
    el.artist.textContent = sessionReady ? 'Waiting for more music…' : 'Waiting for the server…';
    el.reason.textContent = '';
    el.art.src = PLACEHOLDER_ART;
    el.art.alt = '';
  } else {
    el.title.textContent = track.title || 'Untitled';
    el.artist.textContent = track.artist || 'Unknown artist';
    el.reason.textContent = track.reason || '';
    const art = track.art_url || PLACEHOLDER_ART;
    if (el.art.getAttribute('src') !== art) el.art.src = art;
    el.art.alt = track.art_url ? `Cover of ${track.title}` : '';
  }
  updateControls();
  renderTime();
  renderUpNext();
  updateMediaSession();
}

function renderTime() {
  const pos = player.position;
  const dur = player.duration;
  el.elapsed.textContent = formatClock(pos);
  el.remaining.textContent = `-${formatClock(Math.max(0, dur - pos))}`;
  el.bar.style.width = dur > 0 ? `${Math.min(100, (100 * pos) / dur).toFixed(2)}%` : '0%';
}

function updateControls() {
  const has = player.nowPlaying !== null;
  el.play.disabled = !has;
  el.skip.disabled = !has;
  el.like.disabled = !has;
  el.dislike.disabled = !has;
  const paused = player.paused;
  el.play.setAttribute('aria-label', paused ? 'Play' : 'Pause');
  el.play.querySelector('.btn-text').textContent = paused ? 'Play' : 'Pause';
  el.play.dataset.paused = String(paused);
}

function renderUpNext() {
  const list = el.upnext;
  list.replaceChildren();
  for (const track of player.upNext) {
    const li = document.createElement('li');
    li.dataset.trackId = track.id;
    const title = document.createElement('span');
    title.className = 'un-title';
    title.textContent = track.title || 'Untitled';
    const artist = document.createElement('span');
    artist.className = 'un-artist';
    artist.textContent = track.artist || 'Unknown artist';
    const reason = document.createElement('span');
    reason.className = 'un-reason';
    reason.textContent = track.reason || '';
    li.append(title, artist, reason);
    list.append(li);
  }
  el.upnextEmpty.hidden = player.upNext.length > 0;
  el.upnextEmpty.textContent = queuesSeen === 0 ? 'No queue yet.' : 'Nothing more queued; asking the server for more…';
}

function updateMediaSession() {
  if (!('mediaSession' in navigator)) return;
  const track = player.nowPlaying;
  try {
    navigator.mediaSession.metadata =
      track === null || typeof MediaMetadata !== 'function'
        ? null
        : new MediaMetadata({
            title: track.title || '',
            artist: track.artist || '',
            album: 'Cadence',
            artwork: [{ src: track.art_url || PLACEHOLDER_ART }],
          });
    navigator.mediaSession.playbackState = track === null ? 'none' : player.paused ? 'paused' : 'playing';
  } catch {
    // an old browser's partial Media Session API
  }
}

function setupMediaSession() {
  if (!('mediaSession' in navigator)) return;
  const actions = {
    play: () => player.play(),
    pause: () => player.pause(),
    nexttrack: userSkip,
  };
  for (const [action, handler] of Object.entries(actions)) {
    try {
      navigator.mediaSession.setActionHandler(action, handler);
    } catch {
      // action not supported here
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Mixes: `mixes.list` → `mixes` (the list), `mix.play` → a `queue` with trigger "mix" (and `mix` on
// it and every later queue while the listener stays in the mix; none when they leave it).

let currentMix = null; // {id, title} while the queues carry `mix`
let wantedMix = null; // the mix the listener is in: asked for again when a new session starts
let mixesLoads = 0; // `mixes` answers received
let mixesAskedAt = -Infinity; // pageSeconds() of an unanswered `mixes.list`
let lastEpoch = mixesEpoch(new Date()); // the day and its part the list was asked for
const mixRequests = new Map(); // `mix.play` id → {mix: id | null, resume: boolean}

const mixList = new MixList(el.mixesList, { onPick: pickMix });

function requestMixes() {
  if (!sessionLive) return;
  const now = pageSeconds();
  if (now - mixesAskedAt < 2) return; // one is on its way
  if (send({ type: 'mixes.list', id: conn.id() })) mixesAskedAt = now;
}

function onMixes(message) {
  mixesAskedAt = -Infinity;
  mixesLoads += 1;
  const mixes = readMixes(message);
  mixList.render(mixes);
  el.mixesList.dataset.loads = String(mixesLoads);
  el.mixesEmpty.hidden = mixes.length > 0;
  el.mixesEmpty.textContent = 'No mixes yet: they appear as you listen.';
  el.mixesCount.textContent = mixes.length > 0 ? `· ${mixes.length}` : '';
}

/** The first queue of a session: the server takes every message now. */
function sessionStarted() {
  lastEpoch = mixesEpoch(new Date());
  mixesAskedAt = -Infinity;
  requestMixes();
  // A new session (a reconnection) starts in all music: go back into the listener's mix, without
  // cutting off the track that plays.
  if (wantedMix !== null) sendMixPlay(wantedMix, true);
}

function sendMixPlay(mix, resume) {
  const id = conn.id();
  if (!send({ type: 'mix.play', mix, id })) return false;
  mixRequests.set(id, { mix, resume });
  renderMix();
  return true;
}

function pickMix(mix) {
  if (!sessionLive) {
    say('Not connected to the server yet: try again when it says “Connected”.', { error: true });
    return;
  }
  if (sendMixPlay(mix.id, false)) say(`Starting “${mix.title}”…`);
}

function leaveMix() {
  if (!sessionLive) {
    say('Not connected to the server yet: try again when it says “Connected”.', { error: true });
    return;
  }
  wantedMix = null;
  if (sendMixPlay(null, false)) say('Back to all music…');
}

/** Follow a queue's `mix`; true when it is a mix the listener just picked, to be heard now. */
function mixQueue(message) {
  const mix = message.mix;
  currentMix =
    mix && typeof mix === 'object' && typeof mix.id === 'string'
      ? { id: mix.id, title: typeof mix.title === 'string' && mix.title ? mix.title : mix.id }
      : null;
  const request = message.ref !== undefined ? mixRequests.get(message.ref) : undefined;
  if (request) mixRequests.delete(message.ref);
  if (message.trigger === 'mix') wantedMix = currentMix === null ? null : currentMix.id;
  renderMix();
  if (message.trigger !== 'mix' || (request && request.resume)) return false;
  if (request) say(currentMix === null ? 'Back to all music.' : `Playing “${currentMix.title}”.`);
  return currentMix !== null;
}

function mixUnknown(error) {
  const request = error.ref !== undefined ? mixRequests.get(error.ref) : undefined;
  if (request) {
    mixRequests.delete(error.ref);
    if (request.mix === wantedMix) wantedMix = null;
  }
  renderMix();
  mixesAskedAt = -Infinity; // the list is out of date: fetch it now
  requestMixes();
}

/** The connection dropped: its requests will not be answered. */
function mixesLost() {
  mixRequests.clear();
  mixesAskedAt = -Infinity;
  renderMix();
}

function pendingMix() {
  let pending = null;
  for (const request of mixRequests.values()) if (!request.resume) pending = request.mix;
  return pending;
}

function renderMix() {
  const inMix = currentMix !== null;
  if (!inMix && document.activeElement === el.mixLeave) el.upnextHeading.focus(); // about to be hidden
  el.upnextMix.hidden = !inMix;
  el.upnextMixTitle.textContent = inMix ? currentMix.title : '';
  el.upnext.dataset.mix = inMix ? currentMix.id : '';
  mixList.setState(inMix ? currentMix.id : null, pendingMix());
}

// ---------------------------------------------------------------------------------------------
// Mood

function pct(x) {
  return `${(100 * Math.min(1, Math.max(0, x))).toFixed(1)}%`;
}

function showAxis(value, confidence, bar, val, confBar, conf) {
  const known = confidence > 0;
  bar.style.width = known ? pct(value) : '0%';
  val.textContent = known ? value.toFixed(2) : '— (not said)';
  confBar.style.width = pct(confidence);
  conf.textContent = `${Math.round(100 * confidence)} %`;
}

// The words heard so far while the listener speaks: the settled part, then the tentative rest.
function onPartial(partial) {
  const text = String(partial.text || '');
  const stable = Math.max(0, Math.min(text.length, Number(partial.stable_chars) || 0));
  const settled = document.createElement('span');
  settled.textContent = text.slice(0, stable);
  const tentative = document.createElement('span');
  tentative.className = 'tentative';
  tentative.textContent = text.slice(stable);
  el.transcript.replaceChildren(settled, tentative);
  el.transcript.classList.add('partial');
}

function onMood(mood) {
  const now = pageSeconds();
  chart.addMood(now, mood);
  if (mood.source === 'voice' && Number.isFinite(mood.start_s) && streamStartT !== null) {
    chart.addSpeech(streamStartT + mood.start_s, streamStartT + (mood.end_s || mood.start_s));
  }
  const intents = Array.isArray(mood.intents) ? mood.intents : [];
  if (intents.length > 0) chart.addRequest(now, intents.map((i) => i.kind));

  el.transcript.classList.remove('partial');
  el.transcript.textContent = mood.transcript || '(no words)';
  el.label.textContent = mood.label || '—';
  el.label.dataset.label = mood.label || 'none';
  el.source.textContent = mood.source === 'voice' ? '· from your voice' : '· from what you typed';
  el.intents.replaceChildren(
    ...intents.map((i) => {
      const chip = document.createElement('span');
      chip.className = 'chip';
      chip.textContent = i.kind.replace('_', ' ');
      chip.title = i.phrase || '';
      return chip;
    }),
  );
  showAxis(mood.valence, mood.valence_confidence, el.valenceBar, el.valenceVal, el.valenceConfBar, el.valenceConf);
  showAxis(mood.energy, mood.energy_confidence, el.energyBar, el.energyVal, el.energyConfBar, el.energyConf);
}

// ---------------------------------------------------------------------------------------------
// Microphone: push-to-talk and hands-free

let handsFree = false;
let wantMic = false; // the listener is holding the button / hands-free is on
let streaming = false; // audio.start sent and audio.stop not yet
let closing = Promise.resolve(); // the previous stream's flush and audio.stop
let streamStartT = null; // page seconds at audio.start
let pttSource = null; // 'pointer' | 'key' | 'click' while push-to-talk is held

const mic = new Mic({
  workletUrl: '/static/worklet.js',
  onChunk: (buffer) => {
    if (streaming) conn.sendBinary(buffer);
  },
  onLevel: (rms) => {
    el.level.style.width = pct(Math.min(1, rms * 5));
  },
  onLive: (live) => {
    el.micIndicator.hidden = !live;
    document.body.classList.toggle('mic-live', live);
    renderMicState();
  },
  onEnded: () => {
    streamStopped();
    say('The microphone stopped (was it unplugged?).', { error: true });
  },
});

function showMicProblem(text) {
  el.micMessage.textContent = text;
  el.micMessage.hidden = !text;
}

async function micStart() {
  wantMic = true;
  await closing;
  if (!wantMic || streaming) return;
  if (!sessionReady) {
    say('Not connected to the server yet: try again when it says “Connected”.', { error: true });
    wantMic = false;
    pttSource = null;
    renderMicState();
    return;
  }
  renderMicState();
  let ok;
  try {
    ok = await mic.open();
  } catch (error) {
    wantMic = false;
    pttSource = null;
    handsFreeOff(false);
    showMicProblem(micErrorMessage(error));
    renderMicState();
    return;
  }
  if (!ok) return; // released while the microphone was being acquired
  if (!wantMic || !sessionReady) {
    mic.release();
    renderMicState();
    return;
  }
  showMicProblem('');
  streaming = send({ type: 'audio.start', sample_rate: 16000, channels: 1, format: 's16le', id: conn.id() });
  streamStartT = pageSeconds();
  if (!streaming) mic.release();
  renderMicState();
}

function micStop() {
  wantMic = false;
  if (!streaming) {
    mic.release(); // cancels an acquisition under way
    renderMicState();
    return;
  }
  closing = (async () => {
    await mic.close(); // the last buffered samples go out first
    if (streaming) send({ type: 'audio.stop', id: conn.id() });
    streamStopped();
  })();
  renderMicState();
}

function streamStopped() {
  streaming = false;
  mic.release();
  renderMicState();
}

/** The connection dropped: the server forgot the stream; hands-free resumes on the next session. */
function micLost() {
  const keep = handsFree;
  streaming = false;
  wantMic = false;
  pttSource = null;
  mic.release();
  handsFree = keep;
  chart.endSpeech(pageSeconds());
  renderMicState();
}

function pttPress(source) {
  if (handsFree || pttSource !== null) return;
  pttSource = source;
  micStart();
  renderMicState();
}

function pttRelease(source) {
  if (pttSource === null || (source !== 'any' && source !== pttSource)) return;
  pttSource = null;
  micStop();
}

function handsFreeOn() {
  if (handsFree) return;
  if (pttSource !== null) pttRelease('any');
  handsFree = true;
  micStart();
  renderMicState();
}

function handsFreeOff(stop = true) {
  if (!handsFree) return;
  handsFree = false;
  if (stop) micStop();
  renderMicState();
}

function renderMicState() {
  el.handsfree.setAttribute('aria-pressed', String(handsFree));
  el.handsfree.textContent = handsFree ? 'Hands-free: on' : 'Hands-free: off';
  el.ptt.disabled = handsFree;
  el.ptt.dataset.active = String(pttSource !== null);
  el.ptt.setAttribute('aria-pressed', String(pttSource !== null));
  if (handsFree) el.pttLabel.textContent = 'Hands-free is on';
  else if (pttSource === 'click') el.pttLabel.textContent = 'Listening… press again to send';
  else if (pttSource !== null) el.pttLabel.textContent = streaming ? 'Listening… release to send' : 'Opening the microphone…';
  else el.pttLabel.textContent = 'Hold to talk';
  if (!streaming) {
    el.vadDot.dataset.state = 'idle';
    el.vadText.textContent = wantMic ? 'Opening the microphone…' : 'Not listening';
  } else if (el.vadDot.dataset.state === 'idle') {
    el.vadDot.dataset.state = 'silence';
    el.vadText.textContent = 'Listening…';
  }
}

function onVad(message) {
  const t = streamStartT !== null && Number.isFinite(message.t_s) ? streamStartT + message.t_s : pageSeconds();
  if (message.state === 'speech') {
    chart.startSpeech(t);
    el.vadDot.dataset.state = 'speech';
    el.vadText.textContent = 'Hearing you speak';
  } else {
    chart.endSpeech(t);
    el.vadDot.dataset.state = streaming ? 'silence' : 'idle';
    el.vadText.textContent = streaming ? 'Listening… (silence)' : 'Not listening';
  }
}

// ---------------------------------------------------------------------------------------------
// Controls and keyboard

function isTextEntry(target) {
  if (!(target instanceof Element)) return false;
  return target.closest('input, textarea, select, [contenteditable=""], [contenteditable="true"]') !== null;
}

el.play.addEventListener('click', userToggle);
el.skip.addEventListener('click', userSkip);
el.like.addEventListener('click', () => userRate('liked'));
el.dislike.addEventListener('click', () => userRate('disliked'));
el.startPlayback.addEventListener('click', () => player.play());
el.reconnect.addEventListener('click', () => {
  say('');
  conn.reconnectNow();
});
el.handsfree.addEventListener('click', () => (handsFree ? handsFreeOff() : handsFreeOn()));
el.mixLeave.addEventListener('click', leaveMix);
el.mixesDetails.addEventListener('toggle', () => {
  if (el.mixesDetails.open) requestMixes(); // opening the section shows the mixes as they are now
});

el.ptt.addEventListener('pointerdown', (event) => {
  if (event.button !== 0) return;
  event.preventDefault();
  try {
    el.ptt.setPointerCapture(event.pointerId);
  } catch {
    // capture is a nicety
  }
  pttPress('pointer');
});
for (const type of ['pointerup', 'pointercancel', 'lostpointercapture']) {
  el.ptt.addEventListener(type, () => pttRelease('pointer'));
}
el.ptt.addEventListener('contextmenu', (event) => event.preventDefault());
el.ptt.addEventListener('keydown', (event) => {
  if (event.key !== 'Enter') return;
  event.preventDefault();
  event.stopPropagation();
  if (!event.repeat) pttPress('enter');
});
el.ptt.addEventListener('keyup', (event) => {
  if (event.key !== 'Enter') return;
  event.preventDefault();
  pttRelease('enter');
});
el.ptt.addEventListener('click', (event) => {
  // A click that is not a pointer press (a screen reader's activation) toggles recording.
  if (event.detail !== 0) return;
  if (pttSource === 'click') pttRelease('click');
  else pttPress('click');
});

el.form.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = el.input.value.trim();
  if (!text) return;
  if (!sessionReady) {
    say('Not connected to the server: your words were not sent.', { error: true });
    return;
  }
  if (send({ type: 'text', text: text.slice(0, 2000), id: conn.id() })) {
    el.input.value = '';
    say('Sent. Listening to how you feel…');
  }
});

el.consent.checked = storage.get('cadence.store_transcripts') === '1';
el.consent.addEventListener('change', () => {
  storage.set('cadence.store_transcripts', el.consent.checked ? '1' : '0');
  if (sessionReady) {
    handsFreeOff();
    if (pttSource !== null) pttRelease('any');
    say(el.consent.checked ? 'Transcripts will be kept: starting a new session.' : 'Transcripts will not be kept: starting a new session.');
    closing.then(() => conn.restart());
  }
});

document.addEventListener('keydown', (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || isTextEntry(event.target)) return;
  if (event.code === 'Space' || event.key === ' ') {
    event.preventDefault(); // no page scroll, no button activation: Space is push-to-talk
    if (!event.repeat) pttPress('key');
    return;
  }
  if (event.repeat) return;
  switch (event.key.toLowerCase()) {
    case 'k':
      userToggle();
      break;
    case 'n':
      userSkip();
      break;
    case 'l':
      userRate('liked');
      break;
    case 'd':
      userRate('disliked');
      break;
    default:
      return;
  }
  event.preventDefault();
});
document.addEventListener('keyup', (event) => {
  if (event.code === 'Space' || event.key === ' ') {
    if (!isTextEntry(event.target)) event.preventDefault();
    pttRelease('key');
  }
});
window.addEventListener('blur', () => {
  if (pttSource === 'key' || pttSource === 'pointer' || pttSource === 'enter') pttRelease('any');
});

window.addEventListener('pagehide', () => {
  if (streaming) send({ type: 'audio.stop' });
  conn.end();
});
window.addEventListener('pageshow', (event) => {
  if (event.persisted) conn.reconnectNow();
});

// ---------------------------------------------------------------------------------------------
// Start

el.listener.textContent = me;
say('');
setupMediaSession();
renderNowPlaying();
renderMicState();
setInterval(() => chart.draw(), 1000);
setInterval(() => {
  const epoch = mixesEpoch(new Date());
  if (epoch === lastEpoch) return;
  lastEpoch = epoch;
  requestMixes(); // a new day or part of it: new daily mixes, a new daylist
}, 30_000);
chart.draw();
conn.connect();

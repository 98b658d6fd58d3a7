// Playback: two <audio> decks (one playing, one prefetching the next track), the queue, and the
// playback events the page reports to the server (started / skipped / completed / liked / disliked).
//
// Queue rules: the first queue starts playing its first track; a later queue replaces "Up next"
// without interrupting the playing track (whose id is dropped from the new list), except a queue the
// listener asked to hear now (`playNow`: a mix they picked). When a track ends or is skipped the next
// one from Up next plays; when Up next runs low, `onLow()` asks for more.

export const LOW_WATER = 2;
const MAX_FAILURES_IN_A_ROW = 3;

/** The position to report as "completed": the track's full length. */
function trackLength(track, deck) {
  if (track && Number.isFinite(track.duration_s) && track.duration_s > 0) return track.duration_s;
  return Number.isFinite(deck.duration) ? deck.duration : 0;
}

export class Player {
  /**
   * @param {HTMLAudioElement[]} decks two audio elements
   * @param {{report: (event: string, trackId: string, positionS: number) => void,
   *          onChange: () => void, onTime: () => void, onLow: () => void,
   *          onBlocked: (blocked: boolean) => void, onProblem: (message: string) => void}} hooks
   */
  constructor(decks, hooks) {
    this.decks = decks;
    this.hooks = hooks;
    this.current = 0; // index of the deck that plays
    this.nowPlaying = null; // the queue entry playing (or paused)
    this.upNext = [];
    this.prefetched = null; // track id loaded in the other deck
    this.startedReported = false;
    this.blocked = false;
    this.failures = 0;
    this.history = []; // ids played this page, newest last
    for (const [index, deck] of decks.entries()) {
      deck.preload = 'auto';
      deck.addEventListener('playing', () => index === this.current && this.onPlaying());
      deck.addEventListener('ended', () => index === this.current && this.onEnded());
      deck.addEventListener('timeupdate', () => index === this.current && this.hooks.onTime());
      deck.addEventListener('durationchange', () => index === this.current && this.hooks.onTime());
      deck.addEventListener('pause', () => index === this.current && this.hooks.onChange());
      deck.addEventListener('play', () => index === this.current && this.hooks.onChange());
      deck.addEventListener('error', () => this.onDeckError(index));
    }
    this.markCurrent();
  }

  get deck() {
    return this.decks[this.current];
  }

  get spare() {
    return this.decks[1 - this.current];
  }

  get paused() {
    return this.nowPlaying === null || this.deck.paused;
  }

  get position() {
    return this.nowPlaying === null ? 0 : this.deck.currentTime || 0;
  }

  /** Length of the playing track: the element's when it knows it, else the queue's `duration_s`. */
  get duration() {
    if (this.nowPlaying === null) return 0;
    const d = this.deck.duration;
    return Number.isFinite(d) && d > 0 ? d : this.nowPlaying.duration_s || 0;
  }

  markCurrent() {
    this.decks.forEach((deck, i) => {
      if (i === this.current) deck.setAttribute('data-current', '');
      else deck.removeAttribute('data-current');
    });
  }

  /** A new queue from the server. */
  setQueue(tracks) {
    const playingId = this.nowPlaying && this.nowPlaying.id;
    this.upNext = tracks.filter((t) => t && t.id !== playingId && t.audio_url);
    if (this.nowPlaying === null) {
      this.playNext();
    } else {
      this.prefetch();
      this.hooks.onChange();
    }
  }

  /**
   * The listener chose other music (a mix): its first track plays now, the rest is Up next.
   *
   * The interrupted track is not reported as skipped: choosing something else to listen to is no
   * verdict on it (a skip would teach the ranker "not this" and make the server answer with a queue
   * of its own). When the new queue starts with the playing track, that track simply goes on.
   */
  playNow(tracks) {
    const playable = tracks.filter((t) => t && t.audio_url);
    const playing = this.nowPlaying;
    if (playing === null || playable.length === 0 || playable[0].id === playing.id) {
      this.setQueue(playable);
      return;
    }
    this.upNext = playable.filter((t) => t.id !== playing.id);
    this.playNext();
  }

  /** Load Up next's first track into the spare deck (unless it is there already). */
  prefetch() {
    const next = this.upNext[0];
    const spare = this.spare;
    if (!next) {
      if (this.prefetched !== null) this.unload(spare);
      this.prefetched = null;
      return;
    }
    if (this.prefetched === next.id) return;
    this.prefetched = next.id;
    spare.src = next.audio_url;
    spare.load();
  }

  unload(deck) {
    deck.pause();
    if (deck.hasAttribute('src')) {
      deck.removeAttribute('src');
      deck.load();
    }
  }

  /** Play the next track from Up next (or go idle and ask for more). */
  playNext() {
    const old = this.deck;
    const track = this.upNext.shift();
    if (!track) {
      this.unload(old);
      this.nowPlaying = null;
      this.startedReported = false;
      this.hooks.onChange();
      this.hooks.onLow();
      return;
    }
    if (this.prefetched === track.id) {
      this.current = 1 - this.current;
      this.unload(old);
    } else {
      this.unload(this.spare);
      old.pause();
      old.src = track.audio_url;
    }
    this.prefetched = null;
    this.markCurrent();
    this.nowPlaying = track;
    this.startedReported = false;
    this.history.push(track.id);
    this.play();
    this.prefetch();
    this.hooks.onChange();
    if (this.upNext.length <= LOW_WATER) this.hooks.onLow();
  }

  /** Start or resume the playing deck; a refused autoplay shows the "Press play" button. */
  play() {
    if (this.nowPlaying === null) return;
    const deck = this.deck;
    let attempt;
    try {
      attempt = deck.play();
    } catch (error) {
      attempt = Promise.reject(error);
    }
    this.hooks.onChange();
    Promise.resolve(attempt).then(
      () => this.setBlocked(false),
      (error) => {
        if (error && error.name === 'NotAllowedError') this.setBlocked(true);
        // AbortError: the load was replaced by another (a skip); the new one plays.
      },
    );
  }

  setBlocked(blocked) {
    if (this.blocked === blocked) return;
    this.blocked = blocked;
    this.hooks.onBlocked(blocked);
  }

  pause() {
    if (this.nowPlaying === null) return;
    this.deck.pause();
    this.hooks.onChange(); // `paused` is already true; the 'pause' event comes later
  }

  toggle() {
    if (this.nowPlaying === null) return;
    if (this.deck.paused) this.play();
    else this.pause();
  }

  onPlaying() {
    this.failures = 0;
    this.setBlocked(false);
    if (!this.startedReported && this.nowPlaying !== null) {
      this.startedReported = true;
      this.hooks.report('started', this.nowPlaying.id, 0);
    }
    this.hooks.onChange();
  }

  onEnded() {
    const track = this.nowPlaying;
    if (track === null) return;
    if (this.startedReported) this.hooks.report('completed', track.id, trackLength(track, this.deck));
    this.playNext();
  }

  /** The listener skips: report where, then play the next track. */
  skip() {
    const track = this.nowPlaying;
    if (track === null) return;
    if (this.startedReported) this.hooks.report('skipped', track.id, this.position);
    this.playNext();
  }

  /** The server skipped (it logged the skip itself): next track, nothing reported. */
  skipByServer() {
    if (this.nowPlaying !== null) this.playNext();
  }

  rate(event) {
    if (this.nowPlaying === null || !this.startedReported) return false;
    this.hooks.report(event, this.nowPlaying.id, this.position);
    return true;
  }

  onDeckError(index) {
    const deck = this.decks[index];
    if (!deck.hasAttribute('src')) return; // emptied on purpose
    if (index !== this.current) {
      this.prefetched = null; // the spare failed: the next track is loaded again when its turn comes
      this.unload(deck);
      return;
    }
    const track = this.nowPlaying;
    if (track === null) return;
    this.failures += 1;
    const code = deck.error ? deck.error.code : 0;
    const why = code === 4 ? 'its format is not supported by this browser' : 'it could not be loaded';
    this.hooks.onProblem(`Could not play “${track.title}”: ${why}.`);
    if (this.failures >= MAX_FAILURES_IN_A_ROW) {
      this.hooks.onProblem(`${this.failures} tracks in a row could not be played. Check the server, then press Skip to try again.`);
      this.failures = 0;
      return;
    }
    setTimeout(() => {
      if (this.nowPlaying === track) this.playNext();
    }, 800);
  }
}

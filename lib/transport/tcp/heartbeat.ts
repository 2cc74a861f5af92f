import { type Message, MessageKind } from '../transport';

/** setTimeout's ceiling; longer delays would fire at once. */
const MAX_TIMER = 0x7fffffff;

/**
 * Heartbeat pings carry id 0, which the client never gives a request or an explicit ping() (its ids start at 1), so
 * their pongs cannot be mistaken for anything else. The id means nothing to the peer: it echoes it.
 */
export const HEARTBEAT_PING_ID = 0;

/** The heartbeat ping, built once: no body, since any answer at all proves the peer is there. */
export const HEARTBEAT_PING: Message = {
  kind: MessageKind.ping,
  id: HEARTBEAT_PING_ID,
  codec: 0,
  service: '',
  endpoint: '',
  timeout: 0,
  metadata: undefined,
  error: false,
  body: new Uint8Array(0),
};

/** What a Heartbeat needs from the connection it watches. */
export interface HeartbeatHooks {
  /** Send one ping frame. */
  ping(): void;
  /** Nothing arrived within `timeout` ms after a ping: close the connection. */
  dead(reason: string): void;
  /**
   * True while this side has stopped reading the connection (a server at its in-flight cap or under back-pressure):
   * silence is then our doing, not the peer's, and must not count against it.
   */
  paused?(): boolean;
}

/**
 * Idle-connection liveness for one tcp connection, used by both the client socket and the server connection.
 *
 * The connection calls `heard()` for every chunk it receives (a timestamp write, nothing else). ONE timer per
 * connection does the rest: when `interval` ms pass with nothing heard it sends a ping, and when `timeout` more ms
 * pass still with nothing heard (a pong or any other frame: all traffic is life) the peer is declared dead. A busy
 * connection never pings; its timer merely re-arms itself once per interval for the time still left.
 */
export class Heartbeat {
  private lastHeard = performance.now();
  /** When the outstanding ping went out; 0 when none is outstanding. */
  private pingSentAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly interval: number,
    private readonly timeout: number,
    private readonly hooks: HeartbeatHooks,
  ) {
    this.arm(interval);
  }

  /** Creates a heartbeat, or none when either setting is 0 (disabled) or not a positive number. */
  static start(interval: number, timeout: number, hooks: HeartbeatHooks): Heartbeat | undefined {
    return interval > 0 && timeout > 0 ? new Heartbeat(interval, timeout, hooks) : undefined;
  }

  /** Something arrived from the peer. Called per received chunk, so it does as little as possible. */
  heard(): void {
    this.lastHeard = performance.now();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(this.tick, Math.min(Math.max(1, Math.ceil(ms)), MAX_TIMER));
    // An idle connection must not keep its process alive just to ping.
    this.timer.unref();
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    if (this.stopped) return;
    const now = performance.now();
    if (this.hooks.paused?.()) {
      // We are not reading: whatever the peer sent waits in the kernel. Start counting again once we read.
      this.pingSentAt = 0;
      this.lastHeard = now;
      return this.arm(this.interval);
    }
    if (this.pingSentAt !== 0) {
      if (this.lastHeard < this.pingSentAt) {
        const waited = now - this.pingSentAt;
        if (waited < this.timeout) return this.arm(this.timeout - waited);
        // Timers run before I/O in an event-loop turn: after a stall of our own, the pong may be sitting unread in
        // the socket. setImmediate runs after this turn's I/O, so the verdict is given only once that has been read.
        setImmediate(this.confirmDead);
        return;
      }
      this.pingSentAt = 0;
    }
    const silent = now - this.lastHeard;
    if (silent < this.interval) return this.arm(this.interval - silent);
    this.pingSentAt = now;
    this.hooks.ping();
    this.arm(this.timeout);
  };

  private readonly confirmDead = (): void => {
    if (this.stopped) return;
    if (this.lastHeard >= this.pingSentAt) {
      // The answer was there after all: carry on as after any other heard frame.
      this.pingSentAt = 0;
      this.tick();
      return;
    }
    this.stop();
    this.hooks.dead(`heartbeat missed: no frame received within ${this.timeout} ms after a ping`);
  };
}

// When to publish. NFSv3 never says a file is finished, so a file is published once it has been
// quiet (no WRITE, SETATTR or CREATE) for the publish delay, on demand (flush), and at shutdown.
// A failed publish is retried with exponential back-off for as long as it takes; the file stays
// staged meanwhile. At most `concurrency` files publish at once.
//
// The scheduler only knows keys and a publish callback; what publishing means lives elsewhere.

import type { Logger } from '../../log/logger.js';
import type { Clock, TimerHandle } from './clock.js';
import { Semaphore } from './concurrency.js';

/**
 * What one publish attempt found:
 * - 'clean': the object holds the file's latest bytes;
 * - 'dirty': something changed during the attempt (or it was superseded): publish again later;
 * - 'gone': the file is no longer staged.
 */
export type PublishAttemptResult = 'clean' | 'dirty' | 'gone';

export type PublishPhase =
  /** Waiting for the file to go quiet. */
  | 'waiting'
  | 'publishing'
  /** The last attempt failed; another is scheduled. */
  | 'failed'
  /** Nothing to do: the last attempt published everything. */
  | 'idle';

export interface PublishState {
  phase: PublishPhase;
  /** Failed attempts in a row. */
  attempts: number;
  lastError?: string;
  /** Epoch ms of the last failure. */
  lastErrorAt?: number;
  /** Epoch ms when the next attempt is due, if one is scheduled. */
  dueAt?: number;
}

export interface PublishSchedulerOptions {
  delayMs: number;
  clock: Clock;
  /** Files publishing at once. */
  concurrency: number;
  /** Back-off after the n-th failure: min(max, base × 2^(n-1)), jittered down by up to half. */
  retryBaseMs: number;
  retryMaxMs: number;
  publish: (key: string) => Promise<PublishAttemptResult>;
  log: Logger;
  /** Jitter source in [0, 1); tests pass a constant. */
  random?: () => number;
}

interface Entry {
  key: string;
  lastActivity: number;
  phase: PublishPhase;
  attempts: number;
  lastError?: string;
  lastErrorAt?: number;
  retryAt?: number;
  timer?: TimerHandle;
  dueAt?: number;
  running?: Promise<PublishAttemptResult>;
}

export class PublishScheduler {
  private readonly entries = new Map<string, Entry>();
  private readonly slots: Semaphore;
  private readonly random: () => number;
  private stopped = false;

  constructor(private readonly options: PublishSchedulerOptions) {
    this.slots = new Semaphore(options.concurrency);
    this.random = options.random ?? Math.random;
  }

  /** The file changed (WRITE, SETATTR, CREATE): restart its quiet period. */
  touch(key: string): void {
    const entry = this.entry(key);
    entry.lastActivity = this.options.clock.now();
    if (entry.phase === 'idle') entry.phase = 'waiting';
    if (!entry.running) this.arm(entry);
  }

  /**
   * Publishes now, without waiting for quiet, after any attempt already running. Resolves with the
   * result; rejects with the publish error (the file stays scheduled for a retry).
   */
  async flush(key: string): Promise<PublishAttemptResult> {
    const entry = this.entry(key);
    if (entry.running) await entry.running.catch(() => undefined);
    if (entry.running) return this.flush(key); // another flush started meanwhile: follow it
    return this.run(entry);
  }

  /** Stops tracking the file (it was removed or dropped). A running attempt is not interrupted. */
  forget(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.timer?.cancel();
    this.entries.delete(key);
  }

  /** Resolves when the attempt running for `key` (if any) has finished. */
  async settle(key: string): Promise<void> {
    await this.entries.get(key)?.running?.catch(() => undefined);
  }

  /** No more timed publishes (shutdown); flush() still works. */
  stop(): void {
    this.stopped = true;
    for (const entry of this.entries.values()) {
      entry.timer?.cancel();
      delete entry.timer;
      delete entry.dueAt;
    }
  }

  state(key: string): PublishState | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    const s: PublishState = { phase: e.phase, attempts: e.attempts };
    if (e.lastError !== undefined) s.lastError = e.lastError;
    if (e.lastErrorAt !== undefined) s.lastErrorAt = e.lastErrorAt;
    if (e.dueAt !== undefined) s.dueAt = e.dueAt;
    return s;
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  private entry(key: string): Entry {
    let e = this.entries.get(key);
    if (!e) {
      e = { key, lastActivity: this.options.clock.now(), phase: 'waiting', attempts: 0 };
      this.entries.set(key, e);
    }
    return e;
  }

  /** Schedules the next attempt: after the quiet delay, and not before a pending retry's time. */
  private arm(entry: Entry): void {
    entry.timer?.cancel();
    delete entry.timer;
    delete entry.dueAt;
    if (this.stopped || entry.phase === 'idle') return;
    const due = Math.max(entry.lastActivity + this.options.delayMs, entry.retryAt ?? 0);
    entry.dueAt = due;
    entry.timer = this.options.clock.setTimer(due - this.options.clock.now(), () => this.onTimer(entry));
  }

  private onTimer(entry: Entry): void {
    delete entry.timer;
    if (this.stopped || this.entries.get(entry.key) !== entry || entry.running) return;
    if (this.options.clock.now() < (entry.dueAt ?? 0)) {
      this.arm(entry); // touched since the timer was set (clock granularity)
      return;
    }
    this.run(entry).catch(() => undefined); // failures are recorded on the entry and logged
  }

  private run(entry: Entry): Promise<PublishAttemptResult> {
    entry.timer?.cancel();
    delete entry.timer;
    delete entry.dueAt;
    const running = this.slots.use(async () => {
      entry.phase = 'publishing';
      return this.options.publish(entry.key);
    });
    entry.running = running;
    return running.then(
      (result) => {
        delete entry.running;
        this.settled(entry, result);
        return result;
      },
      (err: unknown) => {
        delete entry.running;
        this.failed(entry, err);
        throw err;
      },
    );
  }

  private settled(entry: Entry, result: PublishAttemptResult): void {
    entry.attempts = 0;
    delete entry.lastError;
    delete entry.lastErrorAt;
    delete entry.retryAt;
    if (this.entries.get(entry.key) !== entry) return;
    if (result === 'gone') {
      this.forget(entry.key);
      return;
    }
    entry.phase = result === 'clean' ? 'idle' : 'waiting';
    this.arm(entry);
  }

  private failed(entry: Entry, err: unknown): void {
    entry.attempts++;
    entry.lastError = err instanceof Error ? err.message : String(err);
    entry.lastErrorAt = this.options.clock.now();
    const backoff = this.backoff(entry.attempts);
    entry.retryAt = entry.lastErrorAt + backoff;
    entry.phase = 'failed';
    this.options.log.warn('publish failed; file stays staged and will be retried', {
      key: entry.key,
      attempts: entry.attempts,
      retryInMs: backoff,
      error: entry.lastError,
    });
    if (this.entries.get(entry.key) === entry) this.arm(entry);
  }

  private backoff(attempts: number): number {
    const { retryBaseMs, retryMaxMs } = this.options;
    const full = Math.min(retryMaxMs, retryBaseMs * 2 ** Math.min(attempts - 1, 30));
    return Math.round(full / 2 + (full / 2) * this.random());
  }
}

// One client TCP connection: record reassembly, many calls in flight at once, each reply written
// as soon as it is ready (mark + header + payload buffers in one corked writev, payloads never
// copied), and back-pressure: the socket is not read while too many calls are running or too
// many reply bytes are waiting to be sent.

import type { Socket } from 'node:net';
import { RecordDecoder, frameRecord } from '../../protocol/record.js';
import type { CallOutcome, Dispatcher } from './dispatcher.js';
import type { Logger, OncePerKeyWarning } from './logger.js';
import type { ClientAddress } from './program.js';

export interface ConnectionLimits {
  readonly maxRecordSize: number;
  /** Calls of one connection running at once; reading stops at this many. */
  readonly maxCallsInFlight: number;
  /** Reply bytes queued in the socket above which reading (and starting calls) stops. */
  readonly maxQueuedReplyBytes: number;
}

/** Counters shared by all connections of a server. */
export interface ConnectionCounters {
  recordsReceived: number;
  repliesSent: number;
  /** Connections closed because of an invalid record or a message that is no RPC call. */
  protocolErrors: number;
  /** Times a connection stopped reading because of back-pressure. */
  readPauses: number;
  callsInFlight: number;
}

/** IPv4 clients of a dual-stack listener appear as ::ffff:a.b.c.d; show them as a.b.c.d. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export class RpcConnection {
  readonly client: ClientAddress;
  /** Resolves once the socket is closed. */
  readonly closed: Promise<void>;
  private readonly decoder: RecordDecoder;
  /** Records received but not yet started, because the connection is at its call limit. */
  private queue: Buffer[] = [];
  private queueHead = 0;
  private inFlight = 0;
  private readingPaused = false;
  private peerEnded = false;
  private draining = false;
  private isClosed = false;

  constructor(
    private readonly socket: Socket,
    readonly id: number,
    private readonly dispatcher: Dispatcher,
    private readonly limits: ConnectionLimits,
    private readonly counters: ConnectionCounters,
    private readonly logger: Logger,
    private readonly protocolWarnings: OncePerKeyWarning,
  ) {
    this.client = {
      address: normalizeAddress(socket.remoteAddress ?? 'unknown'),
      port: socket.remotePort ?? 0,
    };
    this.decoder = new RecordDecoder({ maxRecordSize: limits.maxRecordSize });
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        // Calls still running finish on their own; their replies are dropped.
        this.isClosed = true;
        resolve();
      });
    });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('drain', () => this.pump());
    socket.on('error', (err) => {
      this.logger.debug('connection error', { connection: this.id, client: this.client.address, err });
    });
  }

  /** Calls started and not yet answered. */
  get callsInFlight(): number {
    return this.inFlight;
  }

  /**
   * Stops taking calls, lets the running ones finish and send their replies, then closes the
   * connection. Resolves when the socket is closed (the caller applies a deadline).
   */
  shutdown(): Promise<void> {
    if (!this.draining) {
      this.draining = true;
      this.queue = [];
      this.queueHead = 0;
      this.updateReading();
      this.finishIfIdle();
    }
    return this.closed;
  }

  /** Closes at once, dropping replies not yet written. */
  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.draining || this.isClosed) return; // shutting down: input is read and discarded
    const { records, error } = this.decoder.push(chunk);
    for (const r of records) this.queue.push(r);
    this.counters.recordsReceived += records.length;
    if (error) {
      this.counters.protocolErrors++;
      this.protocolWarnings.warn(this.client.address, 'closing connection: invalid record', {
        connection: this.id,
        client: this.client.address,
        err: error.message,
      });
      this.socket.destroy();
      return;
    }
    this.pump();
  }

  private onEnd(): void {
    this.peerEnded = true;
    this.finishIfIdle();
  }

  /** Starts queued calls while below the limits, then pauses or resumes reading to match. */
  private pump(): void {
    if (this.isClosed) return;
    while (
      !this.draining &&
      this.queueHead < this.queue.length &&
      this.inFlight < this.limits.maxCallsInFlight &&
      this.socket.writableLength <= this.limits.maxQueuedReplyBytes
    ) {
      const record = this.queue[this.queueHead]!;
      this.queue[this.queueHead++] = EMPTY;
      if (this.queueHead === this.queue.length) {
        this.queue = [];
        this.queueHead = 0;
      }
      if (!this.start(record)) return;
    }
    this.updateReading();
    this.finishIfIdle();
  }

  private updateReading(): void {
    if (this.socket.writableEnded) return; // closing: finishIfIdle reads to the end
    const busy =
      this.draining ||
      this.queueHead < this.queue.length ||
      this.inFlight >= this.limits.maxCallsInFlight ||
      this.socket.writableLength > this.limits.maxQueuedReplyBytes;
    if (busy && !this.readingPaused) {
      this.readingPaused = true;
      if (!this.draining) this.counters.readPauses++;
      this.socket.pause();
    } else if (!busy && this.readingPaused) {
      this.readingPaused = false;
      this.socket.resume();
    }
  }

  /** Starts one call; false when the record closed the connection. */
  private start(record: Buffer): boolean {
    let outcome: CallOutcome;
    try {
      outcome = this.dispatcher.dispatch(record, { client: this.client, connectionId: this.id });
    } catch (err) {
      // The dispatcher answers every failure itself; reaching here is a bug, so fail closed.
      this.logger.error('dispatch failed; closing connection', { connection: this.id, err });
      this.socket.destroy();
      return false;
    }
    if (outcome.kind === 'close') {
      this.counters.protocolErrors++;
      this.protocolWarnings.warn(this.client.address, 'closing connection: not an RPC call', {
        connection: this.id,
        client: this.client.address,
        reason: outcome.reason,
      });
      this.socket.destroy();
      return false;
    }
    this.inFlight++;
    this.counters.callsInFlight++;
    void this.complete(outcome.reply, outcome.replySent);
    return true;
  }

  /** Sends a call's reply when it is ready; never rejects. */
  private async complete(reply: Promise<Buffer[]>, replySent: (() => void) | undefined): Promise<void> {
    let written = false;
    try {
      written = this.send(await reply, replySent);
    } catch (err) {
      this.logger.error('call failed without a reply', { connection: this.id, client: this.client.address, err });
    } finally {
      if (!written) replySent?.();
      this.inFlight--;
      this.counters.callsInFlight--;
      try {
        this.pump();
      } catch (err) {
        this.logger.error('connection failed', { connection: this.id, err });
        this.socket.destroy();
      }
    }
  }

  /** Queues a reply; true when `written` will be called once the socket is done with its buffers. */
  private send(message: Buffer[], written: (() => void) | undefined): boolean {
    const s = this.socket;
    if (this.isClosed || s.destroyed || s.writableEnded) return false;
    const framed = frameRecord(message);
    s.cork();
    // Write callbacks run once the data is in the kernel, or with an error if the socket is destroyed first.
    for (let i = 0; i < framed.length; i++) s.write(framed[i]!, i === framed.length - 1 ? written : undefined);
    s.uncork();
    this.counters.repliesSent++;
    return written !== undefined;
  }

  private finishIfIdle(): void {
    if (this.isClosed || this.socket.writableEnded || this.inFlight > 0) return;
    if (this.draining) {
      this.socket.end();
      this.readingPaused = false;
      // Keep reading (and discarding) until the peer closes: closing with unread input would
      // make the kernel reset the connection and could lose the replies just written.
      this.socket.resume();
    } else if (this.peerEnded && this.queueHead >= this.queue.length) {
      this.socket.end();
    }
  }
}

const EMPTY = Buffer.alloc(0);

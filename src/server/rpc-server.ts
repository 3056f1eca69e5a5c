// The RPC server over TCP: listeners, connections, the program registry and the
// duplicate-request cache, with graceful shutdown.

import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { AdmissionPolicy } from './admission.js';
import { RpcConnection } from './connection.js';
import type { ConnectionCounters, ConnectionLimits } from './connection.js';
import { Dispatcher } from './dispatcher.js';
import { DuplicateRequestCache } from './drc.js';
import type { DrcOptions } from './drc.js';
import { OncePerKeyWarning, silentLogger } from './logger.js';
import type { Logger } from './logger.js';
import { ProgramRegistry } from './program.js';
import type { RpcProgram } from './program.js';

/** The largest NFSv3 WRITE the server offers (1 MiB) plus room for its header. */
export const DEFAULT_MAX_RECORD_SIZE = 1024 * 1024 + 64 * 1024;

export interface RpcServerOptions {
  readonly logger?: Logger;
  /** Records longer than this close their connection, checked before anything is allocated. */
  readonly maxRecordSize?: number;
  /** Per connection: calls running at once before the server stops reading it. */
  readonly maxCallsInFlightPerConnection?: number;
  /** Per connection: reply bytes queued in the socket before the server stops reading it. */
  readonly maxQueuedReplyBytesPerConnection?: number;
  /** Connections beyond this are refused by the listener. */
  readonly maxConnections?: number;
  /** Decides whether each call may run; absent admits all. */
  readonly admission?: AdmissionPolicy;
  /** Settings of the duplicate-request cache, or false for none. */
  readonly duplicateRequestCache?: DrcOptions | false;
}

export interface ListenOptions {
  /** Default 127.0.0.1: serve only this machine unless told otherwise. */
  readonly host?: string;
  /** Default 0: any free port. */
  readonly port?: number;
}

export interface CloseOptions {
  /** How long running calls may take to finish before connections are cut. Default 5 s. */
  readonly timeoutMs?: number;
}

export interface ServerStats extends Readonly<ConnectionCounters> {
  readonly connectionsAccepted: number;
  readonly connectionsOpen: number;
  readonly calls: number;
  readonly drcHits: number;
  readonly drcEntries: number;
  readonly systemErrors: number;
}

export class RpcServer {
  private readonly logger: Logger;
  private readonly protocolWarnings: OncePerKeyWarning;
  private readonly registry = new ProgramRegistry();
  private readonly drc: DuplicateRequestCache | undefined;
  private readonly dispatcher: Dispatcher;
  private readonly limits: ConnectionLimits;
  private readonly maxConnections: number;
  private readonly listeners: net.Server[] = [];
  private readonly connections = new Set<RpcConnection>();
  private readonly counters: ConnectionCounters = {
    recordsReceived: 0,
    repliesSent: 0,
    protocolErrors: 0,
    readPauses: 0,
    callsInFlight: 0,
  };
  private nextConnectionId = 1;
  private connectionsAccepted = 0;
  private closing: Promise<void> | undefined;

  constructor(options: RpcServerOptions = {}) {
    this.logger = options.logger ?? silentLogger;
    this.protocolWarnings = new OncePerKeyWarning(this.logger);
    this.drc = options.duplicateRequestCache === false ? undefined : new DuplicateRequestCache(options.duplicateRequestCache);
    this.dispatcher = new Dispatcher({
      registry: this.registry,
      logger: this.logger,
      admission: options.admission,
      drc: this.drc,
    });
    this.limits = {
      maxRecordSize: options.maxRecordSize ?? DEFAULT_MAX_RECORD_SIZE,
      maxCallsInFlight: options.maxCallsInFlightPerConnection ?? 128,
      maxQueuedReplyBytes: options.maxQueuedReplyBytesPerConnection ?? 8 * 1024 * 1024,
    };
    if (!(this.limits.maxCallsInFlight >= 1)) throw new RangeError('maxCallsInFlightPerConnection must be >= 1');
    this.maxConnections = options.maxConnections ?? 1024;
  }

  register(program: RpcProgram): void {
    this.registry.register(program);
  }

  /** Every registered (program, version), e.g. for a portmapper. */
  programs(): { program: number; version: number; name: string }[] {
    return this.registry.list();
  }

  /** Starts listening; may be called more than once for several addresses or ports. */
  listen(options: ListenOptions = {}): Promise<AddressInfo> {
    if (this.closing) return Promise.reject(new Error('server is closed'));
    const listener = net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, (socket) => this.accept(socket));
    listener.maxConnections = this.maxConnections;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      listener.once('error', onError);
      listener.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 }, () => {
        listener.off('error', onError);
        listener.on('error', (err) => this.logger.error('listener error', { err }));
        this.listeners.push(listener);
        const address = listener.address() as AddressInfo;
        this.logger.info('listening', { address: address.address, port: address.port });
        resolve(address);
      });
    });
  }

  /** Addresses of the listeners, in the order they were started. */
  addresses(): AddressInfo[] {
    return this.listeners.map((l) => l.address()).filter((a): a is AddressInfo => a !== null && typeof a === 'object');
  }

  stats(): ServerStats {
    return {
      ...this.counters,
      connectionsAccepted: this.connectionsAccepted,
      connectionsOpen: this.connections.size,
      calls: this.dispatcher.counters.calls,
      drcHits: this.dispatcher.counters.drcHits,
      drcEntries: this.drc?.size ?? 0,
      systemErrors: this.dispatcher.counters.systemErrors,
    };
  }

  /**
   * Stops accepting connections and calls, lets running calls finish and send their replies
   * (up to the timeout), then closes every connection.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.closing ??= this.shutdown(options.timeoutMs ?? 5000);
    return this.closing;
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    const listenersClosed = this.listeners.map((l) => new Promise<void>((resolve) => l.close(() => resolve())));
    const drained = Promise.all([...this.connections].map((c) => c.shutdown()));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([drained, deadline]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.logger.warn('closing connections with calls still running', {
        connections: this.connections.size,
        calls: this.counters.callsInFlight,
      });
      for (const c of this.connections) c.destroy();
    }
    await Promise.all([...listenersClosed, ...[...this.connections].map((c) => c.closed)]);
    this.logger.info('server closed');
  }

  private accept(socket: net.Socket): void {
    if (this.closing || socket.remoteAddress === undefined) {
      socket.destroy();
      return;
    }
    this.connectionsAccepted++;
    const conn = new RpcConnection(
      socket,
      this.nextConnectionId++,
      this.dispatcher,
      this.limits,
      this.counters,
      this.logger,
      this.protocolWarnings,
    );
    this.connections.add(conn);
    this.logger.debug('connection opened', { connection: conn.id, client: conn.client.address, port: conn.client.port });
    void conn.closed.then(() => {
      this.connections.delete(conn);
      this.logger.debug('connection closed', { connection: conn.id, client: conn.client.address });
    });
  }
}

// A minimal RPC-over-TCP client for the server tests: sends raw records (or any bytes) and
// collects replies by xid.

import net from 'node:net';
import { RecordDecoder, frameRecord } from '../../../protocol/record.js';

export class TestRpcClient {
  readonly replies: Buffer[] = [];
  /** Resolves when the server ends or closes the connection. */
  readonly ended: Promise<void>;
  private readonly decoder = new RecordDecoder({ maxRecordSize: 64 * 1024 * 1024 });
  private readonly waiters = new Map<number, (b: Buffer) => void>();
  private readonly byXid = new Map<number, Buffer>();

  private constructor(
    readonly socket: net.Socket,
    private readonly retain: boolean,
    private readonly onReply?: (reply: Buffer) => void,
  ) {
    socket.on('data', (chunk: Buffer) => {
      const { records, error } = this.decoder.push(chunk);
      if (error) {
        socket.destroy(error);
        return;
      }
      for (const r of records) {
        this.onReply?.(r);
        if (r.length < 4) continue;
        const copy = Buffer.from(r);
        if (this.retain) this.replies.push(copy);
        const xid = copy.readUInt32BE(0);
        if (this.retain) this.byXid.set(xid, copy);
        const waiter = this.waiters.get(xid);
        if (waiter) {
          this.waiters.delete(xid);
          waiter(copy);
        }
      }
    });
    socket.on('error', () => {});
    this.ended = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  /**
   * `retain: false` keeps only replies someone waits for (long fuzz runs); `onReply` sees every
   * reply as it arrives.
   */
  static connect(
    port: number,
    options: { localPort?: number; retain?: boolean; onReply?: (reply: Buffer) => void } = {},
  ): Promise<TestRpcClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port, localPort: options.localPort }, () => {
        s.off('error', reject);
        resolve(new TestRpcClient(s, options.retain ?? true, options.onReply));
      });
      s.once('error', reject);
    });
  }

  /** Sends one message as a record (split into fragments of `maxFragment` bytes if given). */
  send(message: Buffer, maxFragment?: number): void {
    this.socket.write(Buffer.concat(frameRecord([message], maxFragment)));
  }

  sendRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The reply to `xid` (one already received, or the next one). */
  reply(xid: number): Promise<Buffer> {
    const have = this.byXid.get(xid);
    if (have) return Promise.resolve(have);
    return new Promise((resolve) => this.waiters.set(xid, resolve));
  }

  async call(message: Buffer, maxFragment?: number): Promise<Buffer> {
    const xid = message.readUInt32BE(0);
    this.byXid.delete(xid);
    const p = this.reply(xid);
    this.send(message, maxFragment);
    return p;
  }

  close(): Promise<void> {
    this.socket.end();
    return this.ended;
  }
}

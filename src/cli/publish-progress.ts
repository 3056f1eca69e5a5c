// Progress lines for long publishes: the write path reports how far each upload has got in its
// status, so a periodic look at the files being published gives "uploaded X of Y" lines for the
// ones that take a while, without the write path calling back.

import type { Logger } from '../log/logger.js';
import type { WritePath } from '../fs/write/write-path.js';

export interface PublishProgressOptions {
  /** How often to look. Default 10 s. */
  intervalMs?: number;
  /** A file is reported once it has been publishing this long. Default 10 s. */
  reportAfterMs?: number;
  now?: () => number;
}

const MiB = 1024 * 1024;

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

export class PublishProgress {
  private readonly since = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private readonly reportAfterMs: number;
  private readonly now: () => number;

  constructor(
    private readonly writePath: Pick<WritePath, 'status'>,
    private readonly log: Logger,
    /** Turns a key into the path shown (relative to the export). */
    private readonly pathOf: (key: string) => string,
    options: PublishProgressOptions = {},
  ) {
    this.reportAfterMs = options.reportAfterMs ?? 10_000;
    this.now = options.now ?? Date.now;
    this.timer = setInterval(() => this.look(), options.intervalMs ?? 10_000);
    this.timer.unref();
  }

  /** One look: logs every file publishing for longer than reportAfterMs. Public for tests. */
  look(): void {
    const t = this.now();
    const publishing = new Set<string>();
    for (const f of this.writePath.status().files) {
      if (f.phase !== 'publishing') continue;
      publishing.add(f.key);
      const start = this.since.get(f.key);
      if (start === undefined) {
        this.since.set(f.key, t);
        continue;
      }
      if (t - start < this.reportAfterMs) continue;
      const percent = f.size > 0 ? Math.floor((100 * f.uploadedBytes) / f.size) : 100;
      this.log.info('publishing', {
        path: this.pathOf(f.key),
        uploaded: mib(f.uploadedBytes),
        size: mib(f.size),
        percent,
        seconds: Math.round((t - start) / 1000),
      });
    }
    for (const key of [...this.since.keys()]) if (!publishing.has(key)) this.since.delete(key);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

// The WRITE/COMMIT verifier (RFC 1813 writeverf3): 8 bytes that change whenever the server may have
// lost data it answered UNSTABLE for. Staged data survives a restart only as far as the last COMMIT,
// so a new verifier per server start is exactly right: a client that sees it change resends every
// page it has not had committed under the old one.

import { randomBytes } from 'node:crypto';

export const WRITE_VERIFIER_SIZE = 8;

export class WriteVerifier {
  private constructor(private readonly value: Buffer) {}

  /** A fresh verifier for this server start: random, so two starts within one clock tick differ. */
  static forBoot(): WriteVerifier {
    return new WriteVerifier(randomBytes(WRITE_VERIFIER_SIZE));
  }

  static fromBytes(bytes: Uint8Array): WriteVerifier {
    if (bytes.length !== WRITE_VERIFIER_SIZE) throw new RangeError(`a write verifier has ${WRITE_VERIFIER_SIZE} bytes`);
    return new WriteVerifier(Buffer.from(bytes));
  }

  /** The 8 bytes (a copy, so callers cannot change the verifier). */
  get bytes(): Buffer {
    return Buffer.from(this.value);
  }

  equals(other: WriteVerifier): boolean {
    return this.value.equals(other.value);
  }

  toString(): string {
    return this.value.toString('hex');
  }
}

// AWS Signature Version 4 (header form) for bodiless requests: what GetShortcut needs to sign a ranged
// GET without the SDK's middleware. The SDK's signer is the reference (a test compares the two); this one
// only skips its per-request promise chains and re-derivations, which cost more than the hashing.

import { createHash, createHmac } from 'node:crypto';

export interface SigningCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SignableRequest {
  method: string;
  /** The path exactly as sent (already URI-encoded: S3 signs it as is, without encoding it again). */
  path: string;
  /** Query parameters, not encoded. */
  query: Record<string, string>;
  /** Header fields to send and sign, names in lower case; `host` included. Signing adds its own. */
  headers: Record<string, string>;
}

/** The hex SHA-256 of an empty payload (what a bodiless request signs unless told UNSIGNED-PAYLOAD). */
export const EMPTY_PAYLOAD_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export class SigV4Signer {
  /** The derived key of the current day: it depends only on the secret, the date and the scope. */
  private cachedKey: { secret: string; day: string; key: Buffer } | undefined;

  constructor(
    private readonly region: string,
    private readonly service: string,
  ) {}

  /**
   * Adds x-amz-date, x-amz-content-sha256, x-amz-security-token (with a session token) and authorization
   * to `request.headers`, signing every header field it carries.
   */
  sign(request: SignableRequest, credentials: SigningCredentials, payloadHash: string, now: Date): void {
    const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const day = amzDate.slice(0, 8);
    const headers = request.headers;
    headers['x-amz-date'] = amzDate;
    headers['x-amz-content-sha256'] = payloadHash;
    if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken;
    delete headers['authorization'];

    const names = Object.keys(headers).sort();
    let canonicalHeaders = '';
    for (const name of names) canonicalHeaders += `${name}:${headers[name]!.trim().replace(/\s+/g, ' ')}\n`;
    const signedHeaders = names.join(';');
    const canonicalRequest = [
      request.method,
      request.path,
      canonicalQuery(request.query),
      canonicalHeaders,
      signedHeaders,
      payloadHash,
    ].join('\n');
    const scope = `${day}/${this.region}/${this.service}/aws4_request`;
    const stringToSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${sha256Hex(canonicalRequest)}`;
    const signature = createHmac('sha256', this.signingKey(credentials.secretAccessKey, day))
      .update(stringToSign, 'utf8')
      .digest('hex');
    headers['authorization'] =
      `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  }

  private signingKey(secret: string, day: string): Buffer {
    const cached = this.cachedKey;
    if (cached && cached.secret === secret && cached.day === day) return cached.key;
    const kDate = hmac(`AWS4${secret}`, day);
    const kRegion = hmac(kDate, this.region);
    const kService = hmac(kRegion, this.service);
    const key = hmac(kService, 'aws4_request');
    this.cachedKey = { secret, day, key };
    return key;
  }
}

/** RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ percent-encoded, hex upper case. */
export function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** An object key as a URL path: each '/'-separated segment encoded, the slashes kept. */
export function encodeKeyPath(key: string): string {
  return key.split('/').map(uriEncode).join('/');
}

function canonicalQuery(query: Record<string, string>): string {
  return Object.keys(query)
    .map((k) => [uriEncode(k), uriEncode(query[k]!)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

function sha256Hex(data: string): string {
  return createHash('sha256').update(data, 'utf8').digest('hex');
}

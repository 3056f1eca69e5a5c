// Ranged GETs are nearly all the requests a reader sends, and the SDK spent ~1.8 ms of CPU on each
// (endpoint rules, middleware stack, schema serde, signing through promise chains): at S3 speed that
// was 15% of s3nfs's CPU. GetShortcut sends them itself: it learns from one GetObject the SDK built and
// signed (endpoint, addressing style, path prefix, signing region), then builds the same request for
// other keys and ranges, signs it with SigV4Signer and hands it to DirectGetHandler.
//
// Only successes are its business: any other answer (404, 412, 416, throttling, redirects, errors
// from the wire) makes get() return undefined, and the caller asks the SDK, whose error handling,
// retries and redirects stay the only ones. An answer that says the signature itself is wrong turns
// the shortcut off for good.

import { HttpRequest, type HttpResponse } from '@smithy/core/transport';
import type { LogSink } from '../log/logger.js';
import { SigV4Signer, encodeKeyPath, type SigningCredentials } from './sigv4.js';
import { Readable } from 'node:stream';
import { ReceivedBody } from './direct-get.js';

/** How the SDK addresses and signs a GetObject of this bucket. */
export interface GetTemplate {
  protocol: string;
  hostname: string;
  port?: number;
  /** The path up to the encoded key: '/bucket/' (path style) or '/' (virtual-hosted). */
  pathPrefix: string;
  /** The host header the SDK sent, if it sent one. */
  host?: string;
  /** What the SDK signed as the payload hash (UNSIGNED-PAYLOAD or the empty body's SHA-256). */
  payloadHash: string;
  region: string;
  service: string;
}

/** Header fields the SDK sets on a GetObject that the shortcut reproduces (or may leave out). */
const KNOWN_HEADERS = new Set([
  'host',
  'range',
  'if-match',
  'x-amz-date',
  'x-amz-content-sha256',
  'x-amz-security-token',
  'authorization',
  'x-amz-user-agent',
  'user-agent',
  'amz-sdk-invocation-id',
  'amz-sdk-request',
  'x-amz-request-payer',
  'x-amz-expected-bucket-owner',
]);
const CREDENTIAL_SCOPE = /^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request,/;
/** S3 error codes that mean this shortcut's request, not the object, is wrong. */
const SIGNING_ERRORS = /<Code>(SignatureDoesNotMatch|AuthorizationHeaderMalformed|IncompleteSignature|InvalidRequest)<\/Code>/;

/** The template of a GetObject request for `key` the SDK built and signed, or why it cannot be one. */
export function templateFrom(request: HttpRequest, key: string): GetTemplate | string {
  if (request.method !== 'GET') return `method ${request.method}`;
  const queryKeys = Object.keys(request.query);
  if (queryKeys.length !== 1 || request.query['x-id'] !== 'GetObject') return `query ${JSON.stringify(request.query)}`;
  const encoded = encodeKeyPath(key);
  if (!request.path.endsWith(encoded)) return `path ${JSON.stringify(request.path)} does not end with the encoded key`;
  const headers = lowerCased(request.headers);
  for (const name of Object.keys(headers)) if (!KNOWN_HEADERS.has(name)) return `the SDK sent header ${name}`;
  const scope = CREDENTIAL_SCOPE.exec(headers['authorization'] ?? '');
  if (!scope) return 'the request is not signed with AWS4-HMAC-SHA256';
  const payloadHash = headers['x-amz-content-sha256'];
  if (!payloadHash) return 'the request carries no x-amz-content-sha256';
  const template: GetTemplate = {
    protocol: request.protocol,
    hostname: request.hostname,
    pathPrefix: request.path.slice(0, request.path.length - encoded.length),
    payloadHash,
    region: scope[1]!,
    service: scope[2]!,
  };
  if (request.port !== undefined) template.port = request.port;
  if (headers['host'] !== undefined) template.host = headers['host'];
  return template;
}

export interface GetShortcutOptions {
  /** Sends the request (DirectGetHandler.handle). */
  send: (request: HttpRequest, options: { abortSignal?: AbortSignal }) => Promise<{ response: HttpResponse }>;
  /** The SDK's credentials (cached and refreshed by the SDK). */
  credentials: () => Promise<SigningCredentials>;
  /** Milliseconds to add to the local clock (the SDK's correction after a RequestTimeTooSkewed). */
  clockOffsetMs: () => number;
  /** Fields every request of the bucket carries (requester pays, expected owner), lower-case names. */
  fixedHeaders: Record<string, string>;
  log: LogSink;
}

export interface ShortcutGet {
  key: string;
  /** The Range header's value, if any. */
  range?: string;
  ifMatch?: string;
  signal?: AbortSignal;
}

export class GetShortcut {
  private template: GetTemplate | undefined;
  private signer: SigV4Signer | undefined;
  private off = false;
  private triedToLearn = false;
  private sent = 0;

  constructor(private readonly opts: GetShortcutOptions) {}

  /** True once a template is known and the shortcut was not turned off. */
  get ready(): boolean {
    return this.template !== undefined && !this.off;
  }

  /** True until it has seen one GetObject of the SDK to learn from (and while not turned off). */
  get learning(): boolean {
    return !this.triedToLearn && !this.off;
  }

  /** GETs the shortcut answered (successes only). */
  get answered(): number {
    return this.sent;
  }

  /** Learns from a GetObject for `key` the SDK built and signed (the first usable one is kept). */
  learn(request: HttpRequest, key: string): void {
    if (!this.learning) return;
    this.triedToLearn = true;
    const found = templateFrom(request, key);
    if (typeof found === 'string') {
      this.opts.log.info('ranged GETs keep going through the SDK', { reason: found });
      return;
    }
    this.template = found;
    this.signer = new SigV4Signer(found.region, found.service);
    this.opts.log.debug('ranged GETs are signed and sent without the SDK from now on', { host: found.hostname, region: found.region });
  }

  /** The successful response to the GET, or undefined when the SDK should send it (see the file's head). */
  async get(req: ShortcutGet): Promise<HttpResponse | undefined> {
    const template = this.template;
    if (!template || !this.signer || this.off) return undefined;
    const headers: Record<string, string> = { ...this.opts.fixedHeaders };
    if (template.host !== undefined) headers['host'] = template.host;
    if (req.range !== undefined) headers['range'] = req.range;
    if (req.ifMatch !== undefined) headers['if-match'] = req.ifMatch;
    const path = template.pathPrefix + encodeKeyPath(req.key);
    const query = { 'x-id': 'GetObject' };
    let response: HttpResponse;
    try {
      const credentials = await this.opts.credentials();
      const now = new Date(Date.now() + this.opts.clockOffsetMs());
      this.signer.sign({ method: 'GET', path, query, headers }, credentials, template.payloadHash, now);
      const request = new HttpRequest({
        method: 'GET',
        protocol: template.protocol,
        hostname: template.hostname,
        ...(template.port !== undefined ? { port: template.port } : {}),
        path,
        query,
        headers,
      });
      response = (await this.opts.send(request, req.signal ? { abortSignal: req.signal } : {})).response;
    } catch (err) {
      if (req.signal?.aborted) throw err;
      return undefined; // the SDK tries again, with its retries
    }
    if (response.statusCode === 200 || response.statusCode === 206) {
      this.sent++;
      return response;
    }
    const text = await errorText(response.body);
    if (SIGNING_ERRORS.test(text)) {
      this.off = true;
      this.opts.log.warn('S3 refused a ranged GET signed by s3nfs itself; ranged GETs go through the SDK from now on', {
        status: response.statusCode,
        answer: text.slice(0, 300),
      });
    }
    return undefined;
  }
}

/** The start of an error answer's body (S3's XML names the error code). */
async function errorText(body: unknown): Promise<string> {
  if (!(body instanceof ReceivedBody)) {
    if (body instanceof Readable) body.destroy(); // not framed by length: not worth reading
    return '';
  }
  try {
    const whole = await body.whole;
    return whole.toString('utf8', 0, Math.min(whole.length, 4096));
  } catch {
    return '';
  }
}

function lowerCased(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  return out;
}

// One ObjectStore call as data: what the in-memory store logs and what the fault injector matches on,
// so tests can say "LOOKUP sent HEAD + LIST" or "fail the 3rd uploadPart".

import type { CompletedPart, GetRequest, ListRequest, PutRequest } from './object-store.js';

export type StoreCall =
  | { api: 'checkBucket' }
  | { api: 'list'; req: ListRequest }
  | { api: 'head'; key: string }
  | { api: 'get'; req: Omit<GetRequest, 'signal'> }
  | { api: 'put'; req: { key: string; size: number; ifNoneMatch?: boolean } }
  | { api: 'delete'; key: string }
  | { api: 'copy'; sourceKey: string; destKey: string; sourceEtag?: string }
  | { api: 'createMultipartUpload'; key: string }
  | { api: 'uploadPart'; key: string; uploadId: string; partNumber: number; size: number }
  | {
      api: 'uploadPartCopy';
      key: string;
      uploadId: string;
      partNumber: number;
      sourceKey: string;
      range: { start: number; end: number };
      sourceEtag?: string;
    }
  | { api: 'completeMultipartUpload'; key: string; uploadId: string; parts: CompletedPart[] }
  | { api: 'abortMultipartUpload'; key: string; uploadId: string }
  | { api: 'listMultipartUploads'; prefix: string };

export type ObjectStoreApi = StoreCall['api'];

export const OBJECT_STORE_APIS: readonly ObjectStoreApi[] = [
  'checkBucket',
  'list',
  'head',
  'get',
  'put',
  'delete',
  'copy',
  'createMultipartUpload',
  'uploadPart',
  'uploadPartCopy',
  'completeMultipartUpload',
  'abortMultipartUpload',
  'listMultipartUploads',
];

/** The key a call acts on (the destination for copies); undefined for bucket-wide calls. */
export function callKey(call: StoreCall): string | undefined {
  switch (call.api) {
    case 'checkBucket':
    case 'listMultipartUploads':
    case 'list':
      return undefined;
    case 'get':
    case 'put':
      return call.req.key;
    case 'copy':
      return call.destKey;
    default:
      return call.key;
  }
}

/** Records are copied so later mutation by the caller cannot rewrite the log. */
export function describeGet(req: GetRequest): Omit<GetRequest, 'signal'> {
  const out: Omit<GetRequest, 'signal'> = { key: req.key };
  if (req.range) out.range = { ...req.range };
  if (req.ifMatch !== undefined) out.ifMatch = req.ifMatch;
  return out;
}

export function describePut(req: PutRequest): { key: string; size: number; ifNoneMatch?: boolean } {
  const out: { key: string; size: number; ifNoneMatch?: boolean } = { key: req.key, size: req.body.length };
  if (req.ifNoneMatch !== undefined) out.ifNoneMatch = req.ifNoneMatch;
  return out;
}

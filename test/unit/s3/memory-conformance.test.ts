// The S3 conformance suite (test/integration/s3/conformance.ts) against the in-memory store alone,
// so unit runs catch a memory store that drifts from what the real server does.

import { defineConformanceSuite } from '../../integration/s3/conformance.js';
import { MemoryObjectStore } from '../../../src/s3/memory-store.js';

defineConformanceSuite({
  name: 'MemoryObjectStore',
  async open() {
    return new MemoryObjectStore();
  },
});

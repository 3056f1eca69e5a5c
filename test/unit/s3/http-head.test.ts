import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bodyLength, keepsAlive, parseResponseHead, HttpHeadError, type ResponseHead } from '../../../src/s3/http-head.js';

function parse(text: string): ResponseHead | undefined {
  const buf = Buffer.from(text, 'latin1');
  return parseResponseHead(buf, buf.length);
}

function head(text: string): ResponseHead {
  const h = parse(text);
  assert.ok(h, 'the head should be complete');
  return h;
}

test('status line and header fields: names lower-cased, values trimmed, repeats joined', () => {
  const text =
    'HTTP/1.1 206 Partial Content\r\n' +
    'Content-Length: 10\r\n' +
    'ETag:   "abc"  \r\n' +
    'x-amz-meta-A: one\r\n' +
    'X-Amz-Meta-a:two\r\n' +
    'Empty:\r\n' +
    '\r\n';
  const h = head(`${text}0123456789`);
  assert.equal(h.statusCode, 206);
  assert.equal(h.reason, 'Partial Content');
  assert.equal(h.http11, true);
  assert.deepEqual(h.headers, {
    'content-length': '10',
    etag: '"abc"',
    'x-amz-meta-a': 'one, two',
    empty: '',
  });
  assert.equal(h.length, Buffer.byteLength(text), 'length is where the body starts');
});

test('a status line without a reason phrase, and HTTP/1.0', () => {
  const a = head('HTTP/1.1 200\r\n\r\n');
  assert.equal(a.statusCode, 200);
  assert.equal(a.reason, '');
  assert.deepEqual(a.headers, {});
  assert.equal(a.length, 16);
  const b = head('HTTP/1.0 404 Not Found\r\nServer: x\r\n\r\n');
  assert.equal(b.statusCode, 404);
  assert.equal(b.http11, false);
  assert.equal(b.reason, 'Not Found');
});

test('undefined until the blank line arrives, fed byte by byte', () => {
  const text = 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc';
  const buf = Buffer.from(text, 'latin1');
  const headLength = text.indexOf('\r\n\r\n') + 4;
  for (let end = 0; end <= buf.length; end++) {
    const h = parseResponseHead(buf, end);
    if (end < headLength) assert.equal(h, undefined, `end=${end}`);
    else {
      assert.ok(h, `end=${end}`);
      assert.equal(h.length, headLength);
      assert.equal(h.headers['content-length'], '3');
    }
  }
});

test('only buf[0, end) is looked at: a blank line past `end` does not count', () => {
  const buf = Buffer.from('HTTP/1.1 200 OK\r\nA: b\r\n\r\n', 'latin1');
  assert.equal(parseResponseHead(buf, buf.length - 1), undefined);
  // A buffer larger than what arrived (the reader's preallocated buffer): bytes after `end` are stale.
  const big = Buffer.alloc(64, 0x20);
  Buffer.from('HTTP/1.1 200 OK\r\nA: b\r\n').copy(big);
  Buffer.from('\r\n\r\n').copy(big, 40);
  assert.equal(parseResponseHead(big, 24), undefined);
});

test('property: any head is undefined before its blank line and complete from it on', () => {
  // Names of Object.prototype members are left to the test above.
  const fieldName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/).filter((n) => !(n.toLowerCase() in Object.prototype));
  const fieldValue = fc.stringMatching(/^[!-~]([ !-~]{0,20}[!-~])?$/);
  fc.assert(
    fc.property(
      fc.integer({ min: 100, max: 599 }),
      fc.array(fc.tuple(fieldName, fieldValue), { maxLength: 8 }),
      fc.uint8Array({ maxLength: 40 }),
      (status, fields, body) => {
        const text = `HTTP/1.1 ${status} X\r\n${fields.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
        const buf = Buffer.concat([Buffer.from(text, 'latin1'), body]);
        const headLength = Buffer.byteLength(text, 'latin1');
        for (let end = 0; end < headLength; end++) assert.equal(parseResponseHead(buf, end), undefined);
        const h = parseResponseHead(buf, buf.length);
        assert.ok(h);
        assert.equal(h.length, headLength);
        assert.equal(h.statusCode, status);
        const expected: Record<string, string[]> = {};
        for (const [n, v] of fields) (expected[n.toLowerCase()] ??= []).push(v);
        assert.deepEqual(
          h.headers,
          Object.fromEntries(Object.entries(expected).map(([n, vs]) => [n, vs.join(', ')])),
        );
      },
    ),
  );
});

test('a bad status line throws HttpHeadError', () => {
  for (const line of ['HTTP/2 200 OK', 'HTTP/1.1 20 OK', 'HTTP/1.1 2000 OK', 'http/1.1 200 OK', 'SSH-2.0-OpenSSH_9', '', 'HTTP/1.1  200 OK']) {
    assert.throws(() => parse(`${line}\r\nA: b\r\n\r\n`), HttpHeadError, JSON.stringify(line));
  }
  assert.throws(() => parse('garbage\r\n\r\n'), (err: Error) => err instanceof HttpHeadError && err.name === 'HttpHeadError');
});

test('a bad header line throws HttpHeadError', () => {
  for (const line of ['no colon here', ': empty name', 'Bad Name: x', 'Name : x', ' Folded: x', 'Bad(name): x']) {
    assert.throws(() => parse(`HTTP/1.1 200 OK\r\nA: b\r\n${line}\r\n\r\n`), HttpHeadError, JSON.stringify(line));
  }
});

test(
  'header names that are Object.prototype members are fields like any other',
  () => {
    const h = head('HTTP/1.1 200 OK\r\nConstructor: a\r\n__proto__: c\r\n\r\n');
    assert.equal(h.headers['constructor'], 'a');
    assert.equal(Object.getOwnPropertyDescriptor(h.headers, '__proto__')?.value, 'c');
  },
);

test('bodyLength: Content-Length framing', () => {
  assert.equal(bodyLength(head('HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n'), 'GET'), 1234);
  assert.equal(bodyLength(head('HTTP/1.1 206 Partial\r\nContent-Length: 0\r\n\r\n'), 'GET'), 0);
  assert.equal(bodyLength(head('HTTP/1.1 404 Not Found\r\ncontent-length:  17 \r\n\r\n'), 'GET'), 17);
  assert.equal(bodyLength(head('HTTP/1.1 200 OK\r\nContent-Length: 999999999999999\r\n\r\n'), 'GET'), 999999999999999);
});

test('bodyLength: chunked or close-delimited bodies have no length', () => {
  assert.equal(bodyLength(head('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), 'GET'), undefined);
  // Transfer-Encoding wins over Content-Length (RFC 9112 §6.3).
  assert.equal(bodyLength(head('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n'), 'GET'), undefined);
  assert.equal(bodyLength(head('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n'), 'GET'), undefined);
});

test('bodyLength: responses that never have a body', () => {
  const withLength = (status: string) => head(`HTTP/1.1 ${status}\r\nContent-Length: 100\r\n\r\n`);
  assert.equal(bodyLength(withLength('204 No Content'), 'GET'), 0);
  assert.equal(bodyLength(withLength('304 Not Modified'), 'GET'), 0);
  assert.equal(bodyLength(withLength('100 Continue'), 'GET'), 0);
  assert.equal(bodyLength(withLength('200 OK'), 'HEAD'), 0);
  assert.equal(bodyLength(head('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), 'HEAD'), 0);
  assert.equal(bodyLength(withLength('200 OK'), 'GET'), 100);
});

test('bodyLength: a bad Content-Length throws HttpHeadError', () => {
  for (const v of ['-1', '+5', '1e3', '0x10', '12 34', 'abc', '5, 5', '1234567890123456', '']) {
    assert.throws(() => bodyLength(head(`HTTP/1.1 200 OK\r\nContent-Length: ${v}\r\n\r\n`), 'GET'), HttpHeadError, JSON.stringify(v));
  }
});

test('keepsAlive: HTTP/1.1 persists unless Connection: close', () => {
  assert.equal(keepsAlive(head('HTTP/1.1 200 OK\r\n\r\n')), true);
  assert.equal(keepsAlive(head('HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n')), true);
  assert.equal(keepsAlive(head('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n')), false);
  assert.equal(keepsAlive(head('HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\n\r\n')), false);
  assert.equal(keepsAlive(head('HTTP/1.1 200 OK\r\nConnection: closed\r\n\r\n')), true);
});

test('keepsAlive: HTTP/1.0 closes unless Connection: keep-alive', () => {
  assert.equal(keepsAlive(head('HTTP/1.0 200 OK\r\n\r\n')), false);
  assert.equal(keepsAlive(head('HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n')), true);
  assert.equal(keepsAlive(head('HTTP/1.0 200 OK\r\nConnection: close\r\n\r\n')), false);
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FrameTooLargeError, InvalidFrameError, LineDecoder, encodeFrame } from '../src/framing.js';

const frames = ['{"a":1}', '{"b":"h\\u00e9llo"}', '[1,2,3]', '{"c":"☃ 😀"}'];
const stream = Buffer.from(frames.map((f) => f + '\n').join(''), 'utf8');

function feedAll(decoder, chunks) {
  const out = [];
  for (const chunk of chunks) out.push(...decoder.feed(chunk));
  out.push(...decoder.finish());
  return out;
}

describe('LineDecoder', () => {
  test('splitting the input at every byte yields the same frames', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const out = feedAll(new LineDecoder(), [stream.subarray(0, cut), stream.subarray(cut)]);
      assert.deepEqual(out, frames, `cut at ${cut}`);
    }
  });

  test('one byte at a time and many frames per chunk', () => {
    const bytes = [...stream].map((b) => Buffer.from([b]));
    assert.deepEqual(feedAll(new LineDecoder(), bytes), frames);
    const many = Buffer.concat(Array.from({ length: 100 }, () => stream));
    assert.equal(feedAll(new LineDecoder(), [many]).length, 400);
  });

  test('CRLF is accepted and empty lines are skipped', () => {
    assert.deepEqual(feedAll(new LineDecoder(), [Buffer.from('{"a":1}\r\n\n\r\n  \n{"b":2}\n')]), ['{"a":1}', '{"b":2}']);
  });

  test('a line of exactly the limit passes; one byte more is reported once and skipped', () => {
    const decoder = new LineDecoder(8);
    const out = feedAll(decoder, [Buffer.from('12345678\n123456789\nok\n')]);
    assert.equal(out[0], '12345678');
    assert.ok(out[1] instanceof FrameTooLargeError);
    assert.equal(out[2], 'ok');
    assert.equal(out.length, 3);
  });

  test('an oversize line split across chunks is discarded up to its newline', () => {
    const decoder = new LineDecoder(8);
    const out = feedAll(decoder, [Buffer.from('aaaaa'), Buffer.from('aaaaa'), Buffer.from('aaaaaaa'), Buffer.from('aa\n{"x":1}\n')]);
    assert.equal(out.length, 2);
    assert.ok(out[0] instanceof FrameTooLargeError);
    assert.equal(out[1], '{"x":1}');
  });

  test('the "\\r" of a CRLF does not count against the limit', () => {
    const decoder = new LineDecoder(4);
    assert.deepEqual(feedAll(decoder, [Buffer.from('abcd'), Buffer.from('\r'), Buffer.from('\n')]), ['abcd']);
  });

  test('a line that is not UTF-8 is reported and the stream goes on', () => {
    const out = feedAll(new LineDecoder(), [Buffer.from([0x7b, 0xff, 0x7d, 0x0a]), Buffer.from('{}\n')]);
    assert.ok(out[0] instanceof InvalidFrameError);
    assert.equal(out[1], '{}');
  });

  test('a final unterminated line is delivered at the end of the stream', () => {
    assert.deepEqual(feedAll(new LineDecoder(), [Buffer.from('{"a":1}\n{"b":2}')]), ['{"a":1}', '{"b":2}']);
  });

  test('the default limit is 16 MiB', () => {
    assert.equal(new LineDecoder().maxFrameBytes, 16 * 1024 * 1024);
    assert.throws(() => new LineDecoder(0), RangeError);
  });
});

describe('encodeFrame', () => {
  test('never emits a raw newline inside the frame', () => {
    const data = encodeFrame({ text: 'a\nb\r\u2028c', nested: ['\n'] });
    assert.equal(data.indexOf(0x0a), data.length - 1);
    assert.deepEqual(JSON.parse(data.toString('utf8')), { text: 'a\nb\r\u2028c', nested: ['\n'] });
  });

  test('refuses values that are not JSON and frames over the limit', () => {
    assert.throws(() => encodeFrame({ big: 1n }), TypeError);
    assert.throws(() => encodeFrame(undefined), TypeError);
    assert.throws(() => encodeFrame({ a: 'x'.repeat(100) }, 50), FrameTooLargeError);
  });

  test('lone surrogates are escaped, so the frame is valid UTF-8', () => {
    const data = encodeFrame({ s: '\ud800' });
    assert.equal(new TextDecoder('utf-8', { fatal: true }).decode(data), '{"s":"\\ud800"}\n');
  });
});

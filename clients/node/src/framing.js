// Line framing: one UTF-8 JSON message per "\n"-terminated line, with a maximum frame size.
//
// docs/protocol.md, Framing: "One message per line: UTF-8 JSON without raw newlines, terminated by
// `\n` (`\r\n` is accepted). A line longer than the frame limit (default 16 MiB) is discarded up to
// its newline and answered with error `-32002 messageTooLarge`, `id: null`. The connection stays open."

/** Default frame limit: 16 MiB, newline excluded (STYLE §5). */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

const NEWLINE = 0x0a;
const CR = 0x0d;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A frame exceeded the size limit. Reading: the line was discarded; the stream is still usable. */
export class FrameTooLargeError extends Error {
  constructor(limit, size = undefined) {
    super(`${size === undefined ? 'a' : `${size}-byte`} message exceeds the ${limit}-byte frame limit`);
    this.name = 'FrameTooLargeError';
    this.limit = limit;
    this.size = size;
  }
}

/** A frame was not valid UTF-8. It was dropped; the stream is still usable. */
export class InvalidFrameError extends Error {
  constructor(message) {
    super(message);
    this.name = 'InvalidFrameError';
  }
}

/**
 * Splits a byte stream into frames. Pure: no I/O, so tests can feed it any split.
 * `feed` returns the frames it completed (strings, terminator removed) and, for each bad line, a
 * FrameTooLargeError or InvalidFrameError in its place. Empty lines are skipped.
 */
export class LineDecoder {
  constructor(maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 1) throw new RangeError('maxFrameBytes must be a positive integer');
    this.maxFrameBytes = maxFrameBytes;
    this._parts = [];
    this._partBytes = 0;
    this._discarding = false;
  }

  /** @param {Uint8Array} chunk @returns {Array<string|Error>} */
  feed(chunk) {
    const out = [];
    const limit = this.maxFrameBytes;
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(NEWLINE, start);
      if (newline < 0) {
        if (!this._discarding && start < chunk.length) {
          this._parts.push(chunk.subarray(start));
          this._partBytes += chunk.length - start;
          // +1: the line may still end in "\r\n", whose "\r" does not count.
          if (this._partBytes > limit + 1) {
            out.push(new FrameTooLargeError(limit));
            this._reset();
            this._discarding = true;
          }
        }
        return out;
      }
      if (this._discarding) {
        // The oversize line was reported when it crossed the limit; its tail ends here.
        this._discarding = false;
      } else {
        let line = chunk.subarray(start, newline);
        if (this._parts.length > 0) {
          this._parts.push(line);
          line = Buffer.concat(this._parts, this._partBytes + line.length);
          this._reset();
        }
        const item = this._decode(line);
        if (item !== null) out.push(item);
      }
      start = newline + 1;
    }
  }

  /** Call at end of stream: a final unterminated line, if any (leniently accepted). */
  finish() {
    const discarding = this._discarding;
    const line = Buffer.concat(this._parts, this._partBytes);
    this._reset();
    this._discarding = false;
    if (discarding) return [];
    const item = this._decode(line);
    return item === null ? [] : [item];
  }

  _decode(bytes) {
    let line = bytes;
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    if (line.length > this.maxFrameBytes) return new FrameTooLargeError(this.maxFrameBytes, line.length);
    if (line.length === 0) return null;
    let text;
    try {
      text = utf8.decode(line);
    } catch (error) {
      return new InvalidFrameError(`message is not valid UTF-8: ${error.message}`);
    }
    return text.trim() === '' ? null : text;
  }

  _reset() {
    this._parts = [];
    this._partBytes = 0;
  }
}

/**
 * Encodes one message as a compact JSON line. JSON.stringify escapes control characters inside
 * strings, so the only raw newline is the terminator; lone surrogates are escaped (well-formed
 * JSON.stringify, ES2019).
 * @throws {TypeError} the value is not JSON (a BigInt, a cycle) or is undefined.
 * @throws {FrameTooLargeError} the line is longer than `maxFrameBytes` (the peer's limit).
 */
export function encodeFrame(message, maxFrameBytes = undefined) {
  const text = JSON.stringify(message);
  if (text === undefined) throw new TypeError('message is not JSON-serializable');
  const data = Buffer.from(text + '\n', 'utf8');
  if (maxFrameBytes !== undefined && data.length - 1 > maxFrameBytes) {
    throw new FrameTooLargeError(maxFrameBytes, data.length - 1);
  }
  return data;
}

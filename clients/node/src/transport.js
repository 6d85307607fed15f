// Transports: the byte stream to Keel. A Transport has start/send/close and three callbacks,
// as in modelcontextprotocol/typescript-sdk (packages/core-internal/src/shared/transport.ts),
// except that `onmessage` receives each frame as text: the Connection parses it, so it can answer
// a line that is not JSON with -32700 (docs/protocol.md, Framing).
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { DEFAULT_MAX_FRAME_BYTES, LineDecoder, encodeFrame } from './framing.js';

export const ENV_TRANSPORT = 'KEEL_TRANSPORT';
export const ENV_SOCKET = 'KEEL_SOCKET';
export const ENV_TCP = 'KEEL_TCP';
export const ENV_TOKEN = 'KEEL_TOKEN';
export const ENV_TLS = 'KEEL_TLS';
export const ENV_TLS_CA = 'KEEL_TLS_CA';
export const ENV_TLS_CERT = 'KEEL_TLS_CERT';
export const ENV_TLS_KEY = 'KEEL_TLS_KEY';
export const ENV_TLS_SERVER_NAME = 'KEEL_TLS_SERVER_NAME';
// Bound on flushing queued bytes when closing.
const CLOSE_FLUSH_TIMEOUT_MS = 1000;

/**
 * Base class for line-framed byte streams. Subclasses call `_attach(readable, writeFn)`.
 *
 * - `onmessage(text)`: one frame (called in order, never for empty lines).
 * - `onerror(error)`: a FrameTooLargeError or InvalidFrameError (the line was dropped, the stream
 *   is still usable), or an I/O error (followed by `onclose`).
 * - `onclose()`: the stream ended or was closed; called once.
 *
 * `send` encodes at once (so encoding errors reach the caller) and queues; everything queued in
 * one turn of the event loop goes out in a single write.
 */
export class Transport {
  constructor({ maxFrameBytes = DEFAULT_MAX_FRAME_BYTES } = {}) {
    this.onmessage = undefined;
    this.onerror = undefined;
    this.onclose = undefined;
    /** Largest frame we send (the peer's limit, from initialize), or undefined. */
    this.maxSendBytes = undefined;
    this._decoder = new LineDecoder(maxFrameBytes);
    this._queue = [];
    this._queuedBytes = 0;
    this._flushScheduled = false;
    this._closed = false;
  }

  /** Opens the stream and starts reading. Call once. */
  async start() {
    throw new Error('Transport.start is abstract');
  }

  /** True once the stream ended or `close` was called. */
  get closed() {
    return this._closed;
  }

  /**
   * Queues one message; never blocks. Dropped silently once closed.
   * @throws {TypeError|FrameTooLargeError} not JSON, or larger than `maxSendBytes`; nothing queued.
   */
  send(message) {
    const data = encodeFrame(message, this.maxSendBytes);
    if (this._closed) return;
    this._queue.push(data);
    this._queuedBytes += data.length;
    if (!this._flushScheduled) {
      this._flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Hands queued bytes to the stream now. */
  flush() {
    this._flushScheduled = false;
    if (this._queue.length === 0) return;
    const data = this._queue.length === 1 ? this._queue[0] : Buffer.concat(this._queue, this._queuedBytes);
    this._queue = [];
    this._queuedBytes = 0;
    if (!this._closed) this._write(data);
  }

  /** Flushes, waits (bounded) for the bytes to leave, and closes. Safe to call twice. */
  async close() {
    if (this._closed) return;
    this.flush();
    await this._end(CLOSE_FLUSH_TIMEOUT_MS);
    this._markClosed();
  }

  _feed(chunk) {
    for (const item of this._decoder.feed(chunk)) this._deliver(item);
  }

  _finish() {
    for (const item of this._decoder.finish()) this._deliver(item);
    this._markClosed();
  }

  _deliver(item) {
    if (typeof item === 'string') this.onmessage?.(item);
    else this.onerror?.(item);
  }

  _markClosed(error = undefined) {
    if (this._closed) return;
    this._closed = true;
    this._queue = [];
    if (error) this.onerror?.(error);
    this.onclose?.();
  }
}

/** A Unix domain socket or TCP connection, with TLS when `tls` is given (docs/security.md "TLS"). */
export class SocketTransport extends Transport {
  /**
   * @param {{path?: string, host?: string, port?: number, maxFrameBytes?: number,
   *   tls?: {caFile?: string, certFile?: string, keyFile?: string, serverName?: string}}} options
   *   `tls.caFile` absent: the system trust store.
   */
  constructor(options) {
    super(options);
    this._options = options.path ? { path: options.path } : { host: options.host ?? '127.0.0.1', port: options.port };
    this._tls = options.path ? undefined : options.tls;
    this._socket = undefined;
  }

  /**
   * Connects (and completes the TLS handshake).
   * @throws {Error} the socket could not be reached (ENOENT, ECONNREFUSED, …), a TLS file cannot
   *   be read, or the TLS handshake failed (e.g. code UNABLE_TO_VERIFY_LEAF_SIGNATURE for an untrusted server).
   */
  start() {
    return new Promise((resolve, reject) => {
      const socket = this._tls ? tls.connect({ ...this._options, ...tlsOptions(this._tls) }) : net.createConnection(this._options);
      this._socket = socket;
      socket.once('error', reject);
      socket.once(this._tls ? 'secureConnect' : 'connect', () => {
        socket.off('error', reject);
        if (!this._options.path) socket.setNoDelay(true);
        socket.on('data', (chunk) => this._feed(chunk));
        socket.on('end', () => this._finish());
        socket.on('error', (error) => this._markClosed(error));
        socket.on('close', () => this._finish());
        resolve();
      });
    });
  }

  _write(data) {
    if (!this._socket.destroyed) this._socket.write(data);
  }

  async _end(timeoutMs) {
    const socket = this._socket;
    if (!socket || socket.destroyed) return;
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      socket.end(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    socket.destroy();
  }
}

let stdioClaimed = false;

/**
 * stdin/stdout of a process spawned by `keel serve --worker`. "Over stdio, stdout is the wire: a
 * worker must write logs to stderr" (docs/protocol.md): on start, `process.stdout.write` (and so
 * console.log) is pointed at stderr; only this transport writes to the real stdout.
 */
export class StdioTransport extends Transport {
  constructor(options = {}) {
    super(options);
    this._stdin = options.stdin ?? process.stdin;
    this._stdout = options.stdout ?? process.stdout;
    this._wireWrite = undefined;
  }

  async start() {
    if (this._stdout === process.stdout) {
      if (stdioClaimed) throw new Error('the stdio transport can be opened only once per process');
      stdioClaimed = true;
      const original = process.stdout.write;
      this._wireWrite = (data) => original.call(process.stdout, data);
      process.stdout.write = (...args) => process.stderr.write(...args);
    } else {
      this._wireWrite = (data) => this._stdout.write(data);
    }
    this._stdout.on?.('error', (error) => this._markClosed(error));
    this._stdin.on('data', (chunk) => this._feed(chunk));
    this._stdin.on('end', () => this._finish());
    this._stdin.on('error', (error) => this._markClosed(error));
  }

  _write(data) {
    this._wireWrite(data);
  }

  async _end(timeoutMs) {
    // stdout stays open (it cannot be closed in Node); wait until what we wrote has left.
    if (this._stdout.writableLength > 0) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this._stdout.once('drain', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    // Stop reading so the process can exit.
    this._stdin.pause?.();
    this._stdin.destroy?.();
  }
}

/**
 * The first of `resolveEndpoints`: where a single connection goes first.
 * @returns {{kind: 'stdio'|'unix'|'tcp', path?: string, host?: string, port?: number, token?: string}}
 * @throws {Error} no transport configured, or both socket and tcp given.
 */
export function resolveEndpoint(options = {}, env = process.env) {
  return resolveEndpoints(options, env)[0];
}

/**
 * Picks where to connect, in the order to try. KEEL_TRANSPORT=stdio wins (set by `keel serve
 * --worker`, which owns our stdin/stdout), then the options, then KEEL_SOCKET, then KEEL_TCP
 * (+ KEEL_TOKEN). `socket`/`tcp` take one address (a string, used as is, so a path may contain a
 * comma) or an array; KEEL_SOCKET/KEEL_TCP take a comma-separated list (docs/clients.md
 * "Several endpoints"), where a path containing a comma cannot be given.
 * @returns {Array<{kind: 'stdio'|'unix'|'tcp', path?: string, host?: string, port?: number, token?: string}>}
 * @throws {Error} no transport configured, both socket and tcp given, or an empty entry.
 */
export function resolveEndpoints({ socket, tcp, token, tls: tlsOption, allowStdio = true } = {}, env = process.env) {
  if (allowStdio && (env[ENV_TRANSPORT] ?? '').toLowerCase() === 'stdio') return [{ kind: 'stdio' }];
  if (nonEmpty(socket) && nonEmpty(tcp)) throw new Error('give either socket or tcp, not both');
  const theToken = token ?? env[ENV_TOKEN];
  const theTls = tlsOption === true ? {} : tlsOption === false ? undefined : (tlsOption ?? tlsFromEnvironment(env));
  const unix = (path) => ({ kind: 'unix', path });
  const tcpEndpoint = (address) => ({ kind: 'tcp', ...splitHostPort(address), token: theToken, tls: theTls });
  if (nonEmpty(socket)) return addresses(socket, 'socket').map(unix);
  if (nonEmpty(tcp)) return addresses(tcp, 'tcp').map(tcpEndpoint);
  if (env[ENV_SOCKET]) return splitAddresses(env[ENV_SOCKET], ENV_SOCKET).map(unix);
  if (env[ENV_TCP]) return splitAddresses(env[ENV_TCP], ENV_TCP).map(tcpEndpoint);
  throw new Error(
    'no Keel transport: pass socket or tcp, or set KEEL_SOCKET=PATH[,PATH...], KEEL_TCP=HOST:PORT[,HOST:PORT...], ' +
      'or run under `keel serve --worker` (KEEL_TRANSPORT=stdio)',
  );
}

/**
 * A comma-separated list of endpoints, spaces around entries ignored.
 * @throws {Error} an empty entry (`a.sock,,b.sock`, a trailing comma).
 */
export function splitAddresses(value, source) {
  const entries = value.split(',').map((entry) => entry.trim());
  if (entries.some((entry) => entry === '')) {
    throw new Error(`${source} has an empty entry in ${JSON.stringify(value)}: give endpoints separated by single commas`);
  }
  return entries;
}

function nonEmpty(value) {
  return Array.isArray(value) ? value.length > 0 : Boolean(value);
}

function addresses(value, source) {
  const entries = Array.isArray(value) ? value : [value];
  if (!entries.every((entry) => typeof entry === 'string' && entry !== '')) {
    throw new Error(`${source} needs a non-empty address or an array of them, got ${JSON.stringify(value)}`);
  }
  return entries;
}

/** A printable endpoint: "stdio", "unix:PATH", "tcp:HOST:PORT" or "tls:HOST:PORT". */
export function describeEndpoint(endpoint) {
  if (endpoint.kind === 'stdio') return 'stdio';
  if (endpoint.kind === 'unix') return `unix:${endpoint.path}`;
  return `${endpoint.tls ? 'tls' : 'tcp'}:${endpoint.host}:${endpoint.port}`;
}

/** KEEL_TLS_CA/KEEL_TLS_CERT/KEEL_TLS_KEY/KEEL_TLS_SERVER_NAME; undefined unless KEEL_TLS=1 or KEEL_TLS_CA is set. */
function tlsFromEnvironment(env) {
  if (env[ENV_TLS] !== '1' && !env[ENV_TLS_CA]) return undefined;
  return { caFile: env[ENV_TLS_CA], certFile: env[ENV_TLS_CERT], keyFile: env[ENV_TLS_KEY], serverName: env[ENV_TLS_SERVER_NAME] };
}

/** node:tls options from ours: files read now; the host is checked unless `serverName` says otherwise. */
function tlsOptions({ caFile, certFile, keyFile, serverName }) {
  if (Boolean(certFile) !== Boolean(keyFile)) throw new Error('a TLS client certificate needs both certFile and keyFile');
  const options = { minVersion: 'TLSv1.2' };
  if (caFile) options.ca = fs.readFileSync(caFile);
  if (certFile) {
    options.cert = fs.readFileSync(certFile);
    options.key = fs.readFileSync(keyFile);
  }
  if (serverName) options.servername = serverName;
  return options;
}

/** A new, unstarted transport for an endpoint from `resolveEndpoint`. */
export function transportFor(endpoint, { maxFrameBytes = DEFAULT_MAX_FRAME_BYTES } = {}) {
  if (endpoint.kind === 'stdio') return new StdioTransport({ maxFrameBytes });
  if (endpoint.kind === 'unix') return new SocketTransport({ path: endpoint.path, maxFrameBytes });
  return new SocketTransport({ host: endpoint.host, port: endpoint.port, tls: endpoint.tls, maxFrameBytes });
}

function splitHostPort(address) {
  const at = address.lastIndexOf(':');
  const port = Number(address.slice(at + 1));
  if (at < 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error(`tcp address must be HOST:PORT, got ${JSON.stringify(address)}`);
  }
  return { host: address.slice(0, at).replace(/^\[|\]$/g, '') || '127.0.0.1', port };
}

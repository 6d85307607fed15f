// Test support: a scripted peer playing the orchestrator's side over a real Unix socket, and a
// temp-dir helper. Not under test/ because `node --test` runs every file there.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A new temp dir with a short path (Unix socket paths stay under ~100 bytes, STYLE §8). */
export function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kn-'));
  if (process.env.KEEL_TEST_KEEP_TMPDIR === '1') console.error(`keeping ${dir}`);
  else t?.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** One accepted connection, seen from Keel's side: JSON lines in and out. */
export class Peer {
  constructor(socket) {
    this.socket = socket;
    this.lines = [];
    this.waiters = [];
    this.ended = false;
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        this._push(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
      }
    });
    socket.on('close', () => {
      this.ended = true;
      for (const waiter of this.waiters.splice(0)) waiter.reject(new Error('the worker closed the connection'));
    });
    socket.on('error', () => {});
  }

  _push(line) {
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(line);
    else this.lines.push(line);
  }

  /** The next raw line. */
  recvLine(timeoutMs = 5000) {
    if (this.lines.length > 0) return Promise.resolve(this.lines.shift());
    if (this.ended) return Promise.reject(new Error('the worker closed the connection'));
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no message within ${timeoutMs} ms`));
      }, timeoutMs);
      waiter.resolve = (line) => {
        clearTimeout(timer);
        resolve(line);
      };
      waiter.reject = (error) => {
        clearTimeout(timer);
        reject(error);
      };
      this.waiters.push(waiter);
    });
  }

  /** The next message, parsed. */
  async recv(timeoutMs = 5000) {
    return JSON.parse(await this.recvLine(timeoutMs));
  }

  send(message) {
    this.socket.write((typeof message === 'string' ? message : JSON.stringify(message)) + '\n');
  }

  answer(request, result) {
    this.send({ jsonrpc: '2.0', id: request.id, result });
  }

  /** Answers initialize and worker/register; returns the register params. */
  async handshake(workerId = 'w-1') {
    const init = await this.recv();
    if (init.method !== 'initialize') throw new Error(`expected initialize, got ${JSON.stringify(init)}`);
    this.answer(init, { protocolVersion: '1', serverInfo: { name: 'keel', version: '0' }, capabilities: { batches: true, maxMessageBytes: 16777216 } });
    const register = await this.recv();
    if (register.method !== 'worker/register') throw new Error(`expected worker/register, got ${JSON.stringify(register)}`);
    this.answer(register, { workerId });
    return register.params;
  }

  execute(id, name, input, extra = {}) {
    const params = { taskId: 't-1', name, input, attempt: 1, idempotencyKey: 't-1', deadlineMs: 4102444800000, heartbeatTimeoutMs: null, heartbeatDetails: null, workflowId: null, ...extra };
    this.send({ jsonrpc: '2.0', id, method: 'activity/execute', params });
  }

  close() {
    this.socket.destroy();
  }
}

/** A Unix socket server whose accepted connections are Peers. */
export class FakeKeelSocket {
  static async listen(socketPath) {
    const server = new FakeKeelSocket(socketPath);
    await new Promise((resolve, reject) => {
      server.server.once('error', reject);
      server.server.listen(socketPath, resolve);
    });
    return server;
  }

  constructor(socketPath) {
    this.path = socketPath;
    this.peers = [];
    this.waiters = [];
    this.sockets = new Set();
    this.server = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      const peer = new Peer(socket);
      const waiter = this.waiters.shift();
      if (waiter) waiter(peer);
      else this.peers.push(peer);
    });
  }

  /** The next accepted connection. */
  accept(timeoutMs = 5000) {
    if (this.peers.length > 0) return Promise.resolve(this.peers.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((peer) => {
        clearTimeout(timer);
        resolve(peer);
      });
    });
  }

  /** Stops listening and drops every connection. */
  close() {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }
}

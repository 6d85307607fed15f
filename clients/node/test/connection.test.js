import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Connection } from '../src/connection.js';
import { ConnectionClosedError, KeelError } from '../src/errors.js';
import { SocketTransport } from '../src/transport.js';
import { FakeKeelSocket, tempDir } from '../support/peer.js';

/** A started Connection over a real Unix socket, and the peer on the other end. */
async function connected(t, setup = () => {}) {
  const keel = await FakeKeelSocket.listen(path.join(tempDir(t), 'k.sock'));
  const transport = new SocketTransport({ path: keel.path });
  const connection = new Connection(transport, { logger: { error() {}, warn() {}, info() {} } });
  setup(connection);
  await connection.start();
  const peer = await keel.accept();
  t.after(async () => {
    await connection.close();
    await keel.close();
  });
  return { connection, peer, transport };
}

describe('Connection', { timeout: 20_000 }, () => {
  test('call sends one params object and resolves with the matching answer, whatever the order', async (t) => {
    const { connection, peer } = await connected(t);
    const first = connection.call('a/one', { x: 1 });
    const second = connection.call('a/two');
    const r1 = await peer.recv();
    const r2 = await peer.recv();
    assert.deepEqual(r1, { jsonrpc: '2.0', id: r1.id, method: 'a/one', params: { x: 1 } });
    assert.deepEqual(r2.params, {});
    peer.answer(r2, 'two');
    peer.answer(r1, 'one');
    assert.equal(await second, 'two');
    assert.equal(await first, 'one');
  });

  test('an error answer rejects with KeelError carrying code, message and data', async (t) => {
    const { connection, peer } = await connected(t);
    const call = connection.call('x/y');
    const request = await peer.recv();
    peer.send({ jsonrpc: '2.0', id: request.id, error: { code: 2006, message: 'superseded', data: { a: 1 } } });
    await assert.rejects(call, (error) => error instanceof KeelError && error.code === 2006 && error.data.a === 1);
  });

  test('a call times out, and closing rejects pending calls with ConnectionClosedError', async (t) => {
    const { connection, peer } = await connected(t);
    await assert.rejects(connection.call('slow', {}, { timeoutMs: 50 }), { name: 'TimeoutError' });
    const pending = connection.call('never');
    await peer.recv();
    await peer.recv();
    peer.close();
    await assert.rejects(pending, ConnectionClosedError);
    await assert.rejects(connection.call('after'), ConnectionClosedError);
  });

  test('serves requests concurrently; errors become JSON-RPC errors; unknown methods get -32601', async (t) => {
    let release;
    const gate = new Promise((resolve) => {
      release = resolve;
    });
    const { peer } = await connected(t, (connection) => {
      connection.onRequest('slow', async () => {
        await gate;
        return { slow: true };
      });
      connection.onRequest('fast', (params) => ({ echo: params }));
      connection.onRequest('refuse', () => {
        throw new KeelError(2005, 'conflict', { activity: 'x' });
      });
      connection.onRequest('bug', () => {
        throw new TypeError('oops');
      });
    });
    peer.send({ jsonrpc: '2.0', id: 's', method: 'slow', params: {} });
    peer.send({ jsonrpc: '2.0', id: 1, method: 'fast', params: { a: 1 } });
    assert.deepEqual(await peer.recv(), { jsonrpc: '2.0', id: 1, result: { echo: { a: 1 } } });
    release();
    assert.deepEqual(await peer.recv(), { jsonrpc: '2.0', id: 's', result: { slow: true } });
    peer.send({ jsonrpc: '2.0', id: 2, method: 'refuse', params: {} });
    assert.deepEqual(await peer.recv(), { jsonrpc: '2.0', id: 2, error: { code: 2005, message: 'conflict', data: { activity: 'x' } } });
    peer.send({ jsonrpc: '2.0', id: 3, method: 'bug', params: {} });
    const bug = await peer.recv();
    assert.equal(bug.error.code, -32603);
    assert.equal(typeof bug.error.data.incident, 'string');
    peer.send({ jsonrpc: '2.0', id: 4, method: 'nope' });
    assert.equal((await peer.recv()).error.code, -32601);
  });

  test('malformed lines get -32700 with id null, invalid messages -32600, and the connection stays up', async (t) => {
    const { peer } = await connected(t, (connection) => connection.onRequest('ping', () => ({})));
    peer.send('{"jsonrpc":');
    assert.deepEqual({ ...(await peer.recv()), error: undefined }, { jsonrpc: '2.0', id: null, error: undefined });
    peer.send('{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":NaN}}');
    assert.equal((await peer.recv()).error.code, -32700);
    peer.send('42');
    assert.equal((await peer.recv()).error.code, -32600);
    peer.send({ jsonrpc: '2.0', id: 5, method: 'ping', params: [1] });
    assert.equal((await peer.recv()).error.code, -32602);
    peer.send({ jsonrpc: '2.0', id: 999, result: {} }); // nobody asked: dropped
    peer.send({ jsonrpc: '2.0', id: 6, method: 'ping' });
    assert.deepEqual(await peer.recv(), { jsonrpc: '2.0', id: 6, result: {} });
  });

  test('a batch is answered with one array; an all-notification batch with nothing', async (t) => {
    const seen = [];
    const { peer } = await connected(t, (connection) => {
      connection.onRequest('ping', () => ({}));
      connection.onNotification('note', (params) => seen.push(params));
    });
    peer.send([{ jsonrpc: '2.0', method: 'note', params: { n: 1 } }]);
    peer.send([{ jsonrpc: '2.0', id: 1, method: 'ping' }, { jsonrpc: '2.0', method: 'note', params: { n: 2 } }, { foo: 1 }]);
    const answer = await peer.recv();
    assert.ok(Array.isArray(answer));
    assert.equal(answer.length, 2);
    assert.deepEqual(seen, [{ n: 1 }, { n: 2 }]);
    peer.send('[]');
    assert.equal((await peer.recv()).error.code, -32600);
  });

  test('an oversize frame gets -32002 with id null and the next frame is served', async (t) => {
    const keel = await FakeKeelSocket.listen(path.join(tempDir(t), 'k.sock'));
    const connection = new Connection(new SocketTransport({ path: keel.path, maxFrameBytes: 64 }));
    connection.onRequest('ping', () => ({}));
    await connection.start();
    const peer = await keel.accept();
    t.after(async () => {
      await connection.close();
      await keel.close();
    });
    peer.send({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(100) } });
    assert.deepEqual((await peer.recv()).error.code, -32002);
    peer.send({ jsonrpc: '2.0', id: 2, method: 'ping' });
    assert.deepEqual(await peer.recv(), { jsonrpc: '2.0', id: 2, result: {} });
  });

  test('writes queued in one turn of the event loop leave in a single write', async (t) => {
    const { connection, peer, transport } = await connected(t);
    let writes = 0;
    const real = transport._write.bind(transport);
    transport._write = (data) => {
      writes += 1;
      real(data);
    };
    for (let i = 0; i < 10; i++) connection.notify('n', { i });
    for (let i = 0; i < 10; i++) assert.equal((await peer.recv()).params.i, i);
    assert.equal(writes, 1);
  });
});

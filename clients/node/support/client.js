// A real Client connected to a fake Keel, for unit tests of what the client sends.
import path from 'node:path';
import { Client } from '../src/index.js';
import { FakeKeelSocket, tempDir } from './peer.js';

const quiet = { error() {}, warn() {}, info() {} };

/** A Client connected to a fake Keel; `peer` is the connection's Keel side (initialize answered),
 * `keel` the fake Keel (see `reconnected`). `options` go to `Client.connect`. */
export async function connectedClient(t, options = {}) {
  const keel = await FakeKeelSocket.listen(path.join(tempDir(t), 'k.sock'));
  const connecting = Client.connect({ socket: keel.path, logger: quiet, ...options });
  const peer = await initialized(keel);
  const client = await connecting;
  t.after(async () => {
    await client.close();
    await keel.close();
  });
  return { client, peer, keel };
}

/** The client's next connection to `keel` (after a drop), with initialize answered. */
export function reconnected(keel) {
  return initialized(keel);
}

async function initialized(keel) {
  const peer = await keel.accept();
  const init = await peer.recv();
  if (init.method !== 'initialize') throw new Error(`expected initialize, got ${JSON.stringify(init)}`);
  peer.answer(init, { protocolVersion: '1', serverInfo: { name: 'keel', version: '0' }, capabilities: { batches: true, maxMessageBytes: 16777216 } });
  return peer;
}

/** Lets `call` go out, answers it with `result`, and returns the request Keel saw and the call's value. */
export async function answered(peer, call, result) {
  const request = await peer.recv();
  peer.answer(request, result);
  return { request, value: await call };
}

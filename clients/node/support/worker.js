// Test support: a real Worker connected to a fake Keel, for unit tests of what the worker sends.
import path from 'node:path';
import { Worker } from '../src/index.js';
import { FakeKeelSocket, tempDir } from './peer.js';

const quiet = { error() {}, warn() {}, info() {} };

/** A worker named "test-worker" (plus `options`), set up by `configure`, connected to a fake Keel
 * over a real Unix socket with the handshake done; `peer` is Keel's side of the connection. */
export async function servingWorker(t, configure, options = {}) {
  const keel = await FakeKeelSocket.listen(path.join(tempDir(t), 'k.sock'));
  const worker = new Worker({ name: 'test-worker', socket: keel.path, logger: quiet, handleSignals: false, ...options });
  configure(worker);
  const running = worker.run();
  const peer = await keel.accept();
  const registration = await peer.handshake();
  t.after(async () => {
    worker.stop();
    await running.catch(() => {});
    await keel.close();
  });
  return { keel, worker, peer, registration, running };
}

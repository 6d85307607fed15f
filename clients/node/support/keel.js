// Test support: a real `keel serve` on a per-test socket (STYLE §9 level 4/5).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The orchestrator binary: KEEL_BIN, else the debug build in the repo. */
export const KEEL_BIN = process.env.KEEL_BIN ?? path.join(REPO, '.build', 'debug', 'keel');
// Bound on waiting for `keel serve` to bind its socket.
const START_TIMEOUT_MS = 15_000;
// Bound on waiting for it to exit after SIGTERM before SIGKILL.
const STOP_TIMEOUT_MS = 5_000;

/** Why live tests cannot run here, or undefined. */
export function liveSkipReason() {
  return fs.existsSync(KEEL_BIN) ? undefined : `no keel binary at ${KEEL_BIN} (set KEEL_BIN)`;
}

/** Starts `keel serve --db DIR/keel.db --socket DIR/k.sock`; returns once the socket accepts. */
export async function startKeel(t, dir, extraArgs = []) {
  const socket = path.join(dir, 'k.sock');
  const log = fs.openSync(path.join(dir, 'keel.log'), 'a');
  const child = spawn(KEEL_BIN, ['serve', '--db', path.join(dir, 'keel.db'), '--socket', socket, ...extraArgs], { stdio: ['ignore', log, log] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };
  t.after(stop);
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`keel serve exited with ${child.exitCode}: ${fs.readFileSync(path.join(dir, 'keel.log'), 'utf8')}`);
    if (await canConnect(socket)) break;
    if (Date.now() > deadline) throw new Error(`keel serve did not bind ${socket} within ${START_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { socket, stop, child };
}

function canConnect(socket) {
  return new Promise((resolve) => {
    const connection = net.createConnection({ path: socket });
    connection.once('connect', () => {
      connection.destroy();
      resolve(true);
    });
    connection.once('error', () => resolve(false));
  });
}

/** Records the params of every `method` call `client` sends on its current connection (a spy:
 * the call still goes to Keel). A reconnect opens a new connection, which is not recorded. */
export function recordCalls(client, method) {
  const sent = [];
  const connection = client.connection;
  const call = connection.call.bind(connection);
  connection.call = (name, params, options) => {
    if (name === method) sent.push(params);
    return call(name, params, options);
  };
  return sent;
}

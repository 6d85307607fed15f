// Schedules (schedule/*): the params each Client method sends against a scripted Keel, the
// 1020/1021 errors as KeelError, and which schedule calls are repeated after a reconnect.
// Optional params are sent only when the caller set them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KeelError, codes, safeToRepeat } from '../src/index.js';
import { answered as sent, connectedClient as connected } from '../support/client.js';

const spec = { intervalMs: 60_000 };
const action = { workflow: 'reports.daily', input: { region: 'eu' } };
const described = { scheduleId: 's-1', spec, action, overlap: 'skip', catchupWindowMs: 31536000000, paused: false, createdAtMs: 1, updatedAtMs: 1, nextActionTimesMs: [], recentActions: [], started: 0, skipped: 0 };

describe('Client: schedules', { timeout: 10_000 }, () => {
  test('createSchedule sends scheduleId, spec and action, and only the options given', async (t) => {
    const { client, peer } = await connected(t);
    const plain = await sent(peer, client.createSchedule('s-1', { spec, action }), described);
    assert.equal(plain.request.method, 'schedule/create');
    assert.deepEqual(plain.request.params, { scheduleId: 's-1', spec, action });
    assert.deepEqual(plain.value, described);

    const cron = { cron: '0 9 * * MON-FRI', timeZone: 'Europe/Paris', jitterMs: 5000 };
    const full = { ...action, priority: 5, fairnessKey: 'acme', executionTimeoutMs: 3_600_000, runTimeoutMs: 600_000 };
    const all = await sent(peer, client.createSchedule('s-2', { spec: cron, action: full, overlap: 'bufferOne', catchupWindowMs: 60_000, paused: true, note: 'launch later' }), described);
    assert.deepEqual(all.request.params, { scheduleId: 's-2', spec: cron, action: full, overlap: 'bufferOne', catchupWindowMs: 60_000, paused: true, note: 'launch later' });

    const undef = await sent(peer, client.createSchedule('s-3', { spec, action, overlap: undefined, catchupWindowMs: undefined, paused: undefined, note: undefined }), described);
    assert.deepEqual(undef.request.params, { scheduleId: 's-3', spec, action });
  });

  test('createSchedule sends paused: false when set (only unset options are left out)', async (t) => {
    const { client, peer } = await connected(t);
    const { request } = await sent(peer, client.createSchedule('s-1', { spec, action, paused: false }), described);
    assert.deepEqual(request.params, { scheduleId: 's-1', spec, action, paused: false });
  });

  test('describeSchedule and deleteSchedule send only the scheduleId', async (t) => {
    const { client, peer } = await connected(t);
    const d = await sent(peer, client.describeSchedule('s-1'), described);
    assert.equal(d.request.method, 'schedule/describe');
    assert.deepEqual(d.request.params, { scheduleId: 's-1' });
    assert.deepEqual(d.value, described);
    const del = await sent(peer, client.deleteSchedule('s-1'), { scheduleId: 's-1', deleted: true });
    assert.equal(del.request.method, 'schedule/delete');
    assert.deepEqual(del.request.params, { scheduleId: 's-1' });
    assert.deepEqual(del.value, { scheduleId: 's-1', deleted: true });
  });

  test('listSchedules sends limit and cursor only when given', async (t) => {
    const { client, peer } = await connected(t);
    const page = { schedules: [{ scheduleId: 's-1', workflow: 'reports.daily', spec, paused: false, nextActionTimeMs: 60_000 }], nextCursor: 'c-2' };
    const none = await sent(peer, client.listSchedules(), page);
    assert.equal(none.request.method, 'schedule/list');
    assert.deepEqual(none.request.params, {});
    assert.deepEqual(none.value, page);
    const both = await sent(peer, client.listSchedules({ limit: 10, cursor: 'c-2' }), { schedules: [] });
    assert.deepEqual(both.request.params, { limit: 10, cursor: 'c-2' });
    const limitOnly = await sent(peer, client.listSchedules({ limit: 1 }), { schedules: [] });
    assert.deepEqual(limitOnly.request.params, { limit: 1 });
  });

  test('pauseSchedule and unpauseSchedule send note only when given', async (t) => {
    const { client, peer } = await connected(t);
    const paused = await sent(peer, client.pauseSchedule('s-1', { note: 'holiday' }), { ...described, paused: true, note: 'holiday' });
    assert.equal(paused.request.method, 'schedule/pause');
    assert.deepEqual(paused.request.params, { scheduleId: 's-1', note: 'holiday' });
    assert.equal(paused.value.paused, true);
    const bare = await sent(peer, client.pauseSchedule('s-1'), { ...described, paused: true });
    assert.deepEqual(bare.request.params, { scheduleId: 's-1' });
    const unpaused = await sent(peer, client.unpauseSchedule('s-1', { note: 'back' }), described);
    assert.equal(unpaused.request.method, 'schedule/unpause');
    assert.deepEqual(unpaused.request.params, { scheduleId: 's-1', note: 'back' });
    const bareUnpause = await sent(peer, client.unpauseSchedule('s-1'), described);
    assert.deepEqual(bareUnpause.request.params, { scheduleId: 's-1' });
  });

  test('triggerSchedule sends overlap only when given', async (t) => {
    const { client, peer } = await connected(t);
    const answer = { scheduleId: 's-1', workflowId: 's-1-2026-12-05T08:00:00Z', started: true };
    const plain = await sent(peer, client.triggerSchedule('s-1'), answer);
    assert.equal(plain.request.method, 'schedule/trigger');
    assert.deepEqual(plain.request.params, { scheduleId: 's-1' });
    assert.deepEqual(plain.value, answer);
    const allow = await sent(peer, client.triggerSchedule('s-1', { overlap: 'allowAll' }), answer);
    assert.deepEqual(allow.request.params, { scheduleId: 's-1', overlap: 'allowAll' });
  });

  test('1020 scheduleNotFound and 1021 scheduleAlreadyExists reject with KeelError and the code', async (t) => {
    const { client, peer } = await connected(t);
    assert.equal(codes.scheduleNotFound, 1020);
    assert.equal(codes.scheduleAlreadyExists, 1021);
    const exists = client.createSchedule('s-1', { spec, action });
    const create = await peer.recv();
    peer.send({ jsonrpc: '2.0', id: create.id, error: { code: 1021, message: 'schedule s-1 already exists', data: { scheduleId: 's-1' } } });
    await assert.rejects(exists, (error) => error instanceof KeelError && error.code === codes.scheduleAlreadyExists && error.data.scheduleId === 's-1');
    for (const call of [client.describeSchedule('nope'), client.pauseSchedule('nope'), client.unpauseSchedule('nope'), client.triggerSchedule('nope'), client.deleteSchedule('nope')]) {
      const request = await peer.recv();
      peer.send({ jsonrpc: '2.0', id: request.id, error: { code: 1020, message: 'no schedule nope' } });
      await assert.rejects(call, (error) => error instanceof KeelError && error.code === codes.scheduleNotFound && error.rpcMessage === 'no schedule nope');
    }
  });

  test('describe and list are reads, repeated after a reconnect; the other schedule calls are not', () => {
    assert.ok(safeToRepeat('schedule/describe', { scheduleId: 's-1' }));
    assert.ok(safeToRepeat('schedule/list', {}));
    for (const method of ['schedule/create', 'schedule/pause', 'schedule/unpause', 'schedule/trigger', 'schedule/delete']) {
      assert.ok(!safeToRepeat(method, { scheduleId: 's-1' }), method);
    }
  });
});

// The agent's email tool, `email.send` ({to, subject, body} -> {sent, to, messageId}), in Node on
// clients/node. The workflow asks a human before calling it. "Sending" writes the message to
// .state/outbox/<messageId>.json; the message id is derived from the idempotency key, so an attempt
// that runs again after a crash finds the message already sent and does not send it twice.
// Each attempt appends one JSON line to $KEEL_EXAMPLE_LOG.
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ActivityError, Worker } from '../../../clients/node/src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const log = process.env.KEEL_EXAMPLE_LOG || join(here, '..', '.state', 'side-effects.jsonl');
const outbox = join(dirname(log), 'outbox');

const worker = new Worker({ name: 'tools-node', maxConcurrent: 4 });

worker.activity(
  'email.send',
  async (input, ctx) => {
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(input.to)) {
      throw new ActivityError(`not an email address: ${input.to}`, { type: 'BadInput', retryable: false });
    }
    const messageId = `msg-${createHash('sha256').update(ctx.idempotencyKey).digest('hex').slice(0, 16)}`;
    const path = join(outbox, `${messageId}.json`);
    mkdirSync(outbox, { recursive: true });
    const duplicate = existsSync(path);
    if (!duplicate) {
      // Write then rename: a crash never leaves half a message that looks sent.
      writeFileSync(`${path}.tmp`, JSON.stringify({ messageId, ...input }, null, 2));
      renameSync(`${path}.tmp`, path);
      console.error(`email.send: sent ${messageId} to ${input.to}: ${input.subject}`);
    }
    const output = { sent: true, to: input.to, messageId, duplicate };
    // One appendFileSync = one O_APPEND write: lines from all the example's processes never interleave.
    appendFileSync(log, JSON.stringify({ tool: 'email.send', idempotencyKey: ctx.idempotencyKey, attempt: ctx.attempt,
      workflowId: ctx.workflowId, pid: process.pid, atMs: Date.now(), input, output }) + '\n');
    return output;
  },
  {
    description: 'Sends an email (the workflow gets a human approval first).',
    input: {
      type: 'object',
      required: ['to', 'subject', 'body'],
      properties: { to: { type: 'string' }, subject: { type: 'string' }, body: { type: 'string' } },
    },
    output: { type: 'object', required: ['sent', 'to', 'messageId'] },
  },
);

await worker.run();

// The Node worker of the cross-language suite:
//   node.shout   {text} -> {text: text + "!", by: "node"}
//   node.slow    {ms, tag} -> {tag, pid, attempt, by: "node"} after ms milliseconds (the kill -9 test)
//   node.approve workflow: calls the Swift activity swift.upper, then waits for the signal "approve"
import { Worker } from '../../node/src/index.js';
import { setTimeout as sleep } from 'node:timers/promises';

const worker = new Worker({ name: 'crosslang-node' });

worker.activity('node.shout', async (input) => ({ text: `${input.text}!`, by: 'node' }), {
  input: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
});

worker.activity('node.slow', async (input, ctx) => {
  await sleep(input.ms, undefined, { signal: ctx.signal });
  return { tag: input.tag, pid: process.pid, attempt: ctx.attempt, by: 'node' };
});

worker.workflow('node.approve', async (input, wf) => {
  const upper = await wf.activity('swift.upper', { text: input.text });
  const approval = await wf.signal('approve', 30000);
  return { upper, approval, by: 'node' };
});

await worker.run();

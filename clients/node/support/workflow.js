// Test support: a WorkflowRun against a scripted Keel side for `workflow/step`, for unit tests of
// the steps workflow code sends (no socket: the run's sendStep is the script).
import { WorkflowRun } from '../src/workflow.js';

/** A scripted Keel side for workflow/step: `send` records each step; `next()` hands the test the
 * next one (`{params, resolve, reject}`) to answer; `sent` holds those not taken yet. */
export function scriptedSteps() {
  const sent = [];
  const waiting = [];
  const send = (params) =>
    new Promise((resolve, reject) => {
      sent.push({ params, resolve, reject });
      waiting.shift()?.();
    });
  const next = async () => {
    while (sent.length === 0) await new Promise((resolve) => waiting.push(resolve));
    return sent.shift();
  };
  return { send, next, sent };
}

/** A run of workflow `wf-1` (run 1, input {}, empty journal) with `params` overriding those. */
export function workflowRun(params, send) {
  return new WorkflowRun({ workflowId: 'wf-1', runId: 1, name: 'wf', input: {}, journal: [], cancelRequested: false, ...params }, send);
}

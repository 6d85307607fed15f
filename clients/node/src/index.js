// @keel/client: workers, workflows and a client for Keel (docs/protocol.md, version 1).
export { ActivityContext, activityContext, loadContractFiles } from './activity.js';
export { Client } from './client.js';
export { Connection } from './connection.js';
export { ActivityError, CancelledError, ConnectionClosedError, ConnectionLostError, KeelError, codes } from './errors.js';
export { DEFAULT_MAX_FRAME_BYTES, FrameTooLargeError, InvalidFrameError, LineDecoder, encodeFrame } from './framing.js';
export { SocketTransport, StdioTransport, Transport, resolveEndpoint, resolveEndpoints } from './transport.js';
export { Backoff, RECONNECT_INITIAL_MS, RECONNECT_MAX_MS, safeToRepeat } from './reconnect.js';
export { PROTOCOL_VERSION, VERSION } from './version.js';
export { Worker } from './worker.js';
export { WorkflowContext, WorkflowRun } from './workflow.js';

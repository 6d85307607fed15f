// The client's version and the initialize handshake shared by Worker and Client.
import { KeelError, codes } from './errors.js';

export const VERSION = '0.1.0';
export const PROTOCOL_VERSION = '1';

/**
 * Sends `initialize` ("initialize must be the first request on every connection") and adopts the
 * server's maxMessageBytes as the largest frame we send.
 * @throws {KeelError} -32001 when Keel does not answer with protocol version 1, or Keel's error.
 */
export async function initialize(connection, token, timeoutMs) {
  const params = { protocolVersion: PROTOCOL_VERSION, clientInfo: { name: 'keel-node', version: VERSION } };
  if (token !== undefined && token !== null) params.token = token;
  const result = await connection.call('initialize', params, { timeoutMs });
  if (result === null || typeof result !== 'object' || result.protocolVersion !== PROTOCOL_VERSION) {
    throw new KeelError(codes.unsupportedProtocolVersion, `Keel answered initialize with ${JSON.stringify(result)}; this client speaks version 1`);
  }
  const limit = result.capabilities?.maxMessageBytes;
  if (Number.isInteger(limit) && limit > 0) connection.transport.maxSendBytes = limit;
  return result;
}

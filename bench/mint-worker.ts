// Signs many distinct tokens fast (node:crypto, no async per token), in a worker thread per core.
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';

interface Job {
  privateJwk: Record<string, string>;
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  count: number;
}

const { privateJwk, header, payload, count } = workerData as Job;
const key = createPrivateKey({ key: privateJwk, format: 'jwk' });
const encodedHeader = Buffer.from(JSON.stringify(header)).toString('base64url');
const tokens: string[] = [];
for (let i = 0; i < count; i += 1) {
  const body = Buffer.from(JSON.stringify({ ...payload, uti: randomUUID() })).toString('base64url');
  const input = `${encodedHeader}.${body}`;
  tokens.push(`${input}.${sign('RSA-SHA256', Buffer.from(input), key).toString('base64url')}`);
}
parentPort?.postMessage(tokens);

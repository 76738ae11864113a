import { request, type Agent } from 'node:http';
import { connect } from 'node:net';

export interface RawReply {
  readonly status: number;
  readonly headers: string;
  readonly body: unknown;
}

/**
 * Sends one request exactly as written (fetch and node:http would refuse or repair a malformed Host) and reads the
 * answer until the server closes the connection.
 */
export function rawRequest(baseUrl: string, head: readonly string[], body = ''): Promise<RawReply> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const [statusLine = '', ...headerLines] = text.slice(0, split).split('\r\n');
      const bodyText = text.slice(split + 4);
      let parsed: unknown = bodyText;
      try {
        parsed = JSON.parse(bodyText);
      } catch {
        // not JSON: keep the text
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers: headerLines.join('\n'), body: parsed });
    });
    const length = Buffer.byteLength(body);
    socket.end(
      [...head, 'Connection: close', ...(length > 0 ? [`Content-Length: ${length}`] : []), '', body].join('\r\n'),
    );
  });
}

export interface Outcome {
  readonly status?: number;
  /** The response's Connection header. */
  readonly connection?: string;
  /** The connection error's code, or `hung` when neither an answer nor an error came within `timeoutMs`. */
  readonly error?: string;
  readonly sentAt: number;
  /** The request went on a keep-alive connection used before. */
  readonly reused?: boolean;
}

/**
 * One POST to `<base>/graphql` over `agent` (false: a new connection); resolves with the answer or the connection
 * error, never rejects. `onConnect` hears of each new TCP connection the client saw established.
 */
export function postGraphql(
  base: string,
  token: string,
  options: { agent?: Agent | false; onConnect?: () => void; timeoutMs?: number } = {},
): Promise<Outcome> {
  const body = '{"query":"{ hello { username } }"}';
  return new Promise<Outcome>((resolvePromise) => {
    const sentAt = Date.now();
    let reused = false;
    const resolve = (outcome: Outcome) => resolvePromise({ ...outcome, reused });
    const req = request(
      `${base}/graphql`,
      {
        method: 'POST',
        agent: options.agent ?? false,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({ status: res.statusCode, connection: String(res.headers.connection ?? ''), sentAt }),
        );
        res.on('error', () => resolve({ error: 'ECONNRESET', sentAt }));
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message, sentAt }));
    req.on('socket', (socket) => {
      reused = !socket.connecting;
      if (socket.connecting && options.onConnect) socket.once('connect', options.onConnect);
    });
    if (options.timeoutMs !== undefined) {
      req.setTimeout(options.timeoutMs, () => {
        resolve({ error: 'hung', sentAt });
        req.destroy();
      });
    }
    req.end(body);
  });
}

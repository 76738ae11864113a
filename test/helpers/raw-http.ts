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

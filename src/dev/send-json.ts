import type { ServerResponse } from 'node:http';

/** A JSON answer of the local stand-ins (identity provider, token endpoint, Graph); none of them may be cached. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: object,
  headers: Readonly<Record<string, string>> = {},
): void {
  // A delayed answer (setDelay) may find its client gone and the answer already given up.
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

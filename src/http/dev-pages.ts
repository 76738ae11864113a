import type { FastifyRequest } from 'fastify';
import { ALTAIR_PATH } from './altair';

/** The host names dev mode's banner prints for its pages, and their usual spellings: loopback only. */
const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Pages that carry the dev token (Altair's, and Apollo Sandbox's landing page at /graphql). */
function isTokenPage(request: FastifyRequest, path: string): boolean {
  if (request.method !== 'GET') return false;
  if (path === ALTAIR_PATH) return true;
  return path === '/graphql' && (request.headers.accept ?? '').includes('text/html');
}

/**
 * Why a request for an IDE page is refused, or undefined when it may have it. Outside production the pages hold the
 * dev token as their Authorization header, so they are answered only for a loopback host name (a DNS-rebinding page
 * reaches the server under its own name) and only to the page's own origin: a request another origin's page sends
 * (`Sec-Fetch-Site` cross-site or same-site, or a foreign `Origin`) gets none. A navigation typed or opened from the
 * terminal is `Sec-Fetch-Site: none`; clients that are not browsers send neither header.
 */
export function devPageRefusal(request: FastifyRequest, path: string): string | undefined {
  if (!isTokenPage(request, path)) return undefined;
  const { hostname } = new URL(`http://${request.host}`);
  if (!LOOPBACK_NAMES.has(hostname)) {
    return `The IDE is served only on a loopback host name (127.0.0.1, localhost, [::1]), not ${hostname.slice(0, 100)}`;
  }
  const site = request.headers['sec-fetch-site'];
  const origin = request.headers.origin;
  if (
    (site !== undefined && site !== 'same-origin' && site !== 'none') ||
    (origin !== undefined && origin !== `${request.protocol}://${request.host}`)
  ) {
    return 'The IDE is served only to its own origin: open its URL in the browser';
  }
  return undefined;
}

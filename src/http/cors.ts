import fp from 'fastify-plugin';
import type { Config } from '../config';

// Where Apollo Sandbox and Studio run, allowed as CORS origins outside production.
const DEV_ORIGINS = [
  /^https:\/\/studio\.apollographql\.com$/,
  /^https:\/\/sandbox\.embed\.apollographql\.com$/,
  /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/,
];

/** Whether a browser page of `origin` may call the API (CORS_ORIGINS, and outside production the dev IDEs). */
export function originPolicy(config: Config): (origin: string) => boolean {
  const allowed: readonly (string | RegExp)[] =
    config.env === 'production' ? config.corsOrigins : [...config.corsOrigins, ...DEV_ORIGINS];
  return (origin) => allowed.some((entry) => (typeof entry === 'string' ? entry === origin : entry.test(origin)));
}

const EXPOSED_HEADERS = 'www-authenticate, retry-after, x-request-id';
const ALLOWED_METHODS = 'GET, POST';
const ALLOWED_HEADERS = 'authorization, content-type, apollo-require-preflight, x-apollo-operation-name, x-request-id';
const PREFLIGHT_MAX_AGE_SECONDS = '600';

/**
 * CORS headers for the allowed origins only: callers without an Origin (servers, curl) and foreign pages get none,
 * and a preflight from a foreign page gets a 404. Every answer says `Vary: Origin`. An allowed origin is reflected
 * with the headers a browser may read; its preflight (which must name the method it asks for, as the Fetch
 * standard's always do) is answered 204 here, with the methods, request headers and lifetime allowed.
 *
 * Written here rather than with @fastify/cors, which answered the same but copied its options for every request,
 * the great majority of which carry no Origin at all: 3 µs per request (bench/PROFILE.md, eighth pass).
 */
export const cors = fp<{ isAllowedOrigin: (origin: string) => boolean }>(
  async (app, { isAllowedOrigin }) => {
    app.addHook('onRequest', (request, reply, done) => {
      reply.header('vary', 'Origin');
      const { origin } = request.headers;
      if (origin === undefined || !isAllowedOrigin(origin)) return done();
      reply.header('access-control-allow-origin', origin);
      reply.header('access-control-expose-headers', EXPOSED_HEADERS);
      if (request.method !== 'OPTIONS') return done();
      if (request.headers['access-control-request-method'] === undefined) {
        return void reply.code(400).type('text/plain').send('Invalid Preflight Request');
      }
      reply.header('access-control-allow-methods', ALLOWED_METHODS);
      reply.header('access-control-allow-headers', ALLOWED_HEADERS);
      reply.header('access-control-max-age', PREFLIGHT_MAX_AGE_SECONDS);
      // Safari waits for a body unless a 204 says it has none.
      reply.code(204).header('content-length', '0').send();
    });
    // Any OPTIONS the hook did not answer is a preflight from a page that may not call the API.
    app.options('*', (_request, reply) => reply.callNotFound());
  },
  { name: 'cors' },
);

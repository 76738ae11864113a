import fastifyCors from '@fastify/cors';
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

/** CORS headers for the allowed origins only: callers without an Origin (servers, curl) and foreign pages get none. */
export const cors = fp<{ isAllowedOrigin: (origin: string) => boolean }>(
  async (app, { isAllowedOrigin }) => {
    await app.register(fastifyCors, {
      origin: (origin, callback) => callback(null, origin !== undefined && isAllowedOrigin(origin)),
      methods: 'GET, POST',
      allowedHeaders: 'authorization, content-type, apollo-require-preflight, x-apollo-operation-name, x-request-id',
      exposedHeaders: 'www-authenticate, retry-after, x-request-id',
      maxAge: 600,
    });
  },
  { name: 'cors' },
);

import type { AltairFastify } from 'altair-fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../logger';

/** Where the offline IDE lives, and the query it opens with. */
export const ALTAIR_PATH = '/altair';
export const IDE_QUERY = '{ hello { username employeeId scopes } }';

/**
 * Dev mode's in-browser GraphQL IDE, Altair, served entirely from the installed `altair-static` package: it works with
 * no internet, where Apollo Sandbox (the landing page at /graphql) loads from Apollo's CDN. The dev token is set as
 * its Authorization header; no Altair account, no notifications. Altair is a devDependency: an install without dev
 * dependencies (production) never asks for it, and if it is missing the rest of dev mode still runs.
 */
export async function serveAltair(app: FastifyInstance, token: string | undefined, logger: Logger): Promise<boolean> {
  let plugin: typeof AltairFastify;
  try {
    ({ AltairFastify: plugin } = await import('altair-fastify-plugin'));
  } catch {
    logger.warn(
      { event: 'altair_missing' },
      'altair-fastify-plugin is not installed (npm ci installs it): no offline IDE',
    );
    return false;
  }
  await app.register(plugin, {
    path: ALTAIR_PATH,
    baseURL: `${ALTAIR_PATH}/`,
    endpointURL: '/graphql',
    initialName: 'hello',
    initialQuery: IDE_QUERY,
    initialHeaders: token ? { Authorization: `Bearer ${token}` } : {},
    // A new dev server mints a new token: start from the options each time rather than from what the browser kept.
    preserveState: false,
    disableAccount: true,
    initialSettings: { disablePushNotification: true },
  });
  return true;
}

import type FastifyStatic from '@fastify/static';
import type * as AltairStatic from 'altair-static';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../observability/logger';

/** Where the offline IDE lives, and the query it opens with. */
export const ALTAIR_PATH = '/altair';
export const IDE_QUERY = '{ hello { username employeeId scopes } }';

/**
 * Dev mode's in-browser GraphQL IDE, Altair, served entirely from the installed `altair-static` package: it works with
 * no internet, where Apollo Sandbox (the landing page at /graphql) loads from Apollo's CDN. The dev token is set as
 * its Authorization header and as the connection_init payload of its subscriptions (graphql-ws, on the same path);
 * no Altair account, no notifications. Altair is a devDependency: an install without dev dependencies (production)
 * never asks for it, and if it is missing the rest of dev mode still runs.
 *
 * The page is rendered per request (rather than by altair-fastify-plugin, once) because Altair needs the
 * subscription endpoint as an absolute URL, which only the request's host gives.
 */
export async function serveAltair(app: FastifyInstance, token: string | undefined, logger: Logger): Promise<boolean> {
  let altair: Pick<typeof AltairStatic, 'renderAltair' | 'getDistDirectory'>;
  let assets: typeof FastifyStatic;
  try {
    altair = await import('altair-static');
    assets = (await import('@fastify/static')).default;
  } catch {
    logger.warn({ event: 'altair_missing' }, 'altair-static is not installed (npm ci installs it): no offline IDE');
    return false;
  }
  await app.register(assets, { root: altair.getDistDirectory(), prefix: `${ALTAIR_PATH}/` });
  const authorization = token ? { Authorization: `Bearer ${token}` } : {};
  app.get(ALTAIR_PATH, async (request, reply) =>
    reply.type('text/html').send(
      altair.renderAltair({
        baseURL: `${ALTAIR_PATH}/`,
        endpointURL: '/graphql',
        // The host was checked by the onRequest hook (src/http/host-header.ts).
        subscriptionsEndpoint: `${request.protocol === 'https' ? 'wss' : 'ws'}://${request.host}/graphql`,
        initialSubscriptionRequestHandlerId: 'graphql-ws',
        initialSubscriptionsPayload: authorization,
        initialName: 'hello',
        initialQuery: IDE_QUERY,
        initialHeaders: authorization,
        // A new dev server mints a new token: start from the options each time rather than from what the browser kept.
        preserveState: false,
        disableAccount: true,
        initialSettings: { disablePushNotification: true },
      }),
    ),
  );
  return true;
}

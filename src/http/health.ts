import type { FastifyPluginAsync } from 'fastify';

/**
 * The probes: `/healthz` (liveness: the process answers) and `/readyz` (readiness: the signing keys are loaded and
 * no shutdown has begun).
 */
export const healthRoutes: FastifyPluginAsync<{ keysLoaded: () => boolean; draining: () => boolean }> = async (
  app,
  { keysLoaded, draining },
) => {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const status = draining() ? 'shutting down' : keysLoaded() ? 'ready' : 'signing keys not loaded';
    return reply.code(status === 'ready' ? 200 : 503).send({ status });
  });
};

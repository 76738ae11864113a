import type { FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';
import type { Metrics } from './metrics';

/** `GET /metrics` in Prometheus' text format: this process's, or with `groupMetrics` the whole process group's. */
export const metricsRoute: FastifyPluginAsync<{
  metrics: Metrics;
  groupMetrics: ((own: Registry) => () => Promise<string>) | undefined;
}> = async (app, { metrics, groupMetrics }) => {
  const text = groupMetrics ? groupMetrics(metrics.registry) : () => metrics.registry.metrics();
  app.get('/metrics', async (_request, reply) => reply.type(metrics.registry.contentType).send(await text()));
};

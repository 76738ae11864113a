import { FastifyOtelInstrumentation } from '@fastify/otel';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { NodeSDK } from '@opentelemetry/sdk-node';
import type { Config } from '../config';
import { enableTracing } from './tracing';

/** The probes and the metrics scrape: a span each every few seconds would drown the requests that matter. */
const UNTRACED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * OpenTelemetry, when an OTLP endpoint is set (config.telemetry): the SDK configured by the standard OTEL_*
 * variables (endpoint, protocol, headers, sampler, resource), the Fastify request span (@fastify/otel, its hooks not
 * spanned one by one), Redis commands (ioredis), and this API's own spans (tracing.ts). Started before the server's
 * modules are loaded, so that ioredis is instrumented when it is required. Returns what stops it, or undefined when
 * telemetry is off.
 */
export function startTelemetry(settings: Config['telemetry']): (() => Promise<void>) | undefined {
  if (!settings.enabled) return undefined;
  // The SDK reads its exporters from the environment, where metrics are off unless named: here they go to the same
  // OTLP endpoint as the traces unless OTEL_METRICS_EXPORTER=none.
  process.env['OTEL_METRICS_EXPORTER'] = settings.metricsExporter;
  const sdk = new NodeSDK({
    serviceName: settings.serviceName,
    instrumentations: [
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        instrumentHooks: false,
        instrumentHandler: false,
        ignorePaths: ({ url }) => UNTRACED_PATHS.has(url),
      }),
      // The key of a command is a rate-limit key (an address or a caller id): statements are not recorded.
      new IORedisInstrumentation({ dbStatementSerializer: (command) => command }),
    ],
  });
  sdk.start();
  enableTracing();
  return () => sdk.shutdown();
}

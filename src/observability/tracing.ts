import {
  context,
  metrics,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Histogram,
  type Span,
} from '@opentelemetry/api';
import type { ApolloServerPlugin } from '@apollo/server';
import { getOperationAST, type DocumentNode } from 'graphql';

/**
 * This API's own spans. With telemetry off (the default) none is made and the wrappers below are not even called:
 * the request path stays as it was. Attributes never hold a token, a claim naming a person, a variable value or the
 * document text.
 */
const tracer = trace.getTracer('entra-graphql-api');
let enabled = false;

let requestDuration: Histogram | undefined;

export function enableTracing(): void {
  enabled = true;
  // The HTTP server metric of the semantic conventions, exported over OTLP beside /metrics' Prometheus ones.
  requestDuration = metrics.getMeter('entra-graphql-api').createHistogram('http.server.request.duration', {
    unit: 's',
    description: 'Duration of HTTP server requests',
    advice: { explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10] },
  });
}

/** One answered request, for http.server.request.duration (`route` is the matched route, absent for a 404). */
export function recordServerRequest(method: string, route: string | undefined, status: number, ms: number): void {
  requestDuration?.record(ms / 1000, {
    'http.request.method': method,
    'http.response.status_code': status,
    ...(route !== undefined && { 'http.route': route }),
  });
}

export function tracingEnabled(): boolean {
  return enabled;
}

/** Runs `work` inside a span made active (so spans and outbound requests it causes are its children). */
export function inSpan<T>(
  name: string,
  kind: SpanKind,
  attributes: Attributes,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      const failure = failureOf(error);
      span.setAttribute('error.type', failure);
      span.setStatus({ code: SpanStatusCode.ERROR, message: failure });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** A refusal's reason code or a failure's class name: what may be said of an error in a span. */
function failureOf(error: unknown): string {
  if (error !== null && typeof error === 'object') {
    const { reason, failure, name } = error as { reason?: unknown; failure?: unknown; name?: unknown };
    if (typeof reason === 'string') return reason;
    if (typeof failure === 'string') return failure;
    if (typeof name === 'string') return name;
  }
  return 'error';
}

/**
 * The GraphQL operation span of the semantic conventions: named `{type} {name}` (or `{type}`) once the operation is
 * known, with `graphql.operation.type` and `graphql.operation.name`.
 */
function nameOperation(span: Span, document: DocumentNode, operationName: string | null | undefined): void {
  const operation = getOperationAST(document, operationName);
  if (!operation) return;
  const name = operation.name?.value;
  span.updateName(name ? `${operation.operation} ${name}` : operation.operation);
  span.setAttribute('graphql.operation.type', operation.operation);
  if (name) span.setAttribute('graphql.operation.name', name);
}

const OPERATION_SPAN = 'GraphQL Operation';

/** Runs a WebSocket operation in its operation span, named from its document. */
export function inSocketOperationSpan<T>(
  args: { document: DocumentNode; operationName?: string | null | undefined },
  work: () => T | Promise<T>,
): Promise<T> {
  return inSpan(OPERATION_SPAN, SpanKind.SERVER, { 'network.protocol.name': 'websocket' }, async (span) => {
    nameOperation(span, args.document, args.operationName);
    return await work();
  });
}

/** Runs an HTTP GraphQL request in its operation span (named once Apollo has resolved the operation). */
export function inOperationSpan<T>(work: () => T | Promise<T>): Promise<T> {
  return inSpan(OPERATION_SPAN, SpanKind.INTERNAL, {}, async () => await work());
}

/**
 * Names the active operation span after the operation Apollo resolved, and marks it failed when the answer carries
 * errors (their codes only).
 */
export const operationSpanPlugin: ApolloServerPlugin = {
  async requestDidStart() {
    const span = trace.getSpan(context.active());
    if (!span) return;
    return {
      async didResolveOperation({ document, operationName }) {
        nameOperation(span, document, operationName);
      },
      async willSendResponse({ response }) {
        if (response.body.kind !== 'single' || !response.body.singleResult.errors) return;
        const codes = new Set(response.body.singleResult.errors.map((error) => String(error.extensions?.['code'])));
        span.setStatus({ code: SpanStatusCode.ERROR, message: [...codes].join(' ') });
      },
    };
  },
};

export function setActiveSpanAttribute(name: string, value: string | number | boolean): void {
  trace.getActiveSpan()?.setAttribute(name, value);
}

/** `headers` with the active span's `traceparent` (W3C trace context) added. */
export function withTraceContext(headers: Record<string, string> = {}): Record<string, string> {
  const carrier = { ...headers };
  propagation.inject(context.active(), carrier);
  return carrier;
}

export { SpanKind };

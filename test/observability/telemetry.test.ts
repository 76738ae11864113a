import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CLIENT_SECRET, startOboWorld, type OboWorld } from '../helpers/downstream';
import { requireBuild, startProduction, waitForLine } from '../helpers/process';
import { realService, REDIS_SERVER, startRedis, type RedisServer } from '../helpers/services';
import { graphqlWsClient, take } from '../helpers/websocket';

/**
 * OpenTelemetry end to end: the production server (`node dist/main.js`, so that its instrumentations load as they do
 * in production) exports over OTLP/HTTP to a receiver on loopback, and calls Entra ID's token endpoint, Graph and
 * Redis on loopback too. What it exports is read back: span names, kinds, parent/child links, attributes, metrics,
 * and that no token, secret, Authorization value or personal claim is in any of it.
 */
interface OtlpSpan {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes?: { key: string; value: Record<string, unknown> }[];
  status?: { code?: number; message?: string };
}

const SERVER = 2;
const CLIENT = 3;
const ERROR = 2;
const INCOMING_TRACE = '0af7651916cd43dd8448eb211c80319c';
const INCOMING_PARENT = 'b7ad6b7169203331';

const describeTelemetry = realService('redis-server', REDIS_SERVER, 'redis-server') ? describe : describe.skip;

describeTelemetry('OpenTelemetry over OTLP', () => {
  let world: OboWorld;
  let redis: RedisServer;
  let receiver: Server;
  const bodies: { path: string; text: string }[] = [];
  const tokens: string[] = [];
  const spans: OtlpSpan[] = [];
  let metricNames: string[] = [];
  let resource: Record<string, unknown> = {};

  beforeAll(async () => {
    requireBuild();
    world = await startOboWorld();
    redis = await startRedis();
    receiver = createServer((req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString()));
      req.on('end', () => {
        bodies.push({ path: req.url ?? '', text });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

    const child = startProduction(world.idp, {
      ...world.env,
      REDIS_URL: redis.url,
      SHUTDOWN_DRAIN_SECONDS: '0',
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'graphql-api-under-test',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_METRIC_EXPORT_INTERVAL: '500',
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const listening = JSON.parse(await waitForLine(child, /"event":"listening"/, 20_000)) as { url: string };
    const url = listening.url.replace(/\/graphql$/, '');

    const user = await world.idp.mint();
    const expired = await world.idp.mint({ issuedAt: Math.floor(Date.now() / 1000) - 7200 });
    tokens.push(user, expired);
    const profile = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${user}`,
        traceparent: `00-${INCOMING_TRACE}-${INCOMING_PARENT}-01`,
      },
      body: JSON.stringify({ query: 'query Profile { hello { username profile { displayName } } }' }),
    });
    expect(profile.status).toBe(200);
    const refused = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${expired}` },
      body: JSON.stringify({ query: '{ hello { kind } }' }),
    });
    expect(refused.status).toBe(401);
    const client = graphqlWsClient(url, user);
    try {
      expect(await take(client, 'subscription Greet { greetings(everySeconds: 1) { user { kind } } }', 1)).toEqual([
        { data: { greetings: { user: { kind: 'USER' } } } },
      ]);
    } finally {
      await client.dispose();
    }
    await new Promise((resolve) => setTimeout(resolve, 1200));
    // SIGTERM: the server stops, and the SDK exports what is left before the process ends.
    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    for (const { path, text } of bodies) {
      const body = JSON.parse(text) as {
        resourceSpans?: { resource: { attributes: OtlpSpan['attributes'] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
        resourceMetrics?: { scopeMetrics: { metrics: { name: string }[] }[] }[];
      };
      if (path === '/v1/traces') {
        for (const group of body.resourceSpans ?? []) {
          resource = attributesOf(group.resource);
          spans.push(...group.scopeSpans.flatMap((scope) => scope.spans));
        }
      } else if (path === '/v1/metrics') {
        metricNames.push(
          ...(body.resourceMetrics ?? []).flatMap((group) =>
            group.scopeMetrics.flatMap((scope) => scope.metrics.map((metric) => metric.name)),
          ),
        );
      }
    }
    metricNames = [...new Set(metricNames)];
  }, 60_000);

  afterAll(async () => {
    await new Promise((resolve) => receiver?.close(resolve));
    await redis?.stop();
    await world?.close();
  });

  const named = (name: string) => spans.filter((span) => span.name === name);
  const only = (name: string) => {
    const found = named(name);
    expect(found.map((span) => span.name)).toEqual([name]);
    return found[0] as OtlpSpan;
  };

  it('names the service from OTEL_SERVICE_NAME', () => {
    expect(resource['service.name']).toBe('graphql-api-under-test');
  });

  it('continues the caller’s trace: Fastify’s request span, the operation, verification, on-behalf-of and Graph', () => {
    const request = spans.find(
      (span) => span.name === 'request' && span.traceId === INCOMING_TRACE && span.kind === SERVER,
    ) as OtlpSpan;
    expect(request).toBeDefined();
    expect(request.parentSpanId).toBe(INCOMING_PARENT);
    expect(attributesOf(request)).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/graphql' });

    const operation = only('query Profile');
    expect({ traceId: operation.traceId, parent: operation.parentSpanId }).toEqual({
      traceId: INCOMING_TRACE,
      parent: request.spanId,
    });
    expect(attributesOf(operation)).toEqual({ 'graphql.operation.type': 'query', 'graphql.operation.name': 'Profile' });

    const verification = named('verify access token').find((span) => span.parentSpanId === operation.spanId);
    expect(attributesOf(verification as OtlpSpan)).toEqual({
      'entra.token.cache': 'miss',
      'entra.caller.kind': 'user',
    });

    const obo = only('acquire token on-behalf-of');
    expect({ kind: obo.kind, parent: obo.parentSpanId }).toEqual({ kind: CLIENT, parent: operation.spanId });
    expect(attributesOf(obo)).toMatchObject({ 'server.address': '127.0.0.1', 'entra.obo.from_cache': false });

    const graph = only('GET /v1.0/me');
    expect({ kind: graph.kind, parent: graph.parentSpanId }).toEqual({ kind: CLIENT, parent: operation.spanId });
    expect(attributesOf(graph)).toMatchObject({ 'http.request.method': 'GET', 'http.response.status_code': 200 });

    // Each downstream service got the trace context of the span that called it.
    expect(world.idp.tokenEndpoint.traceparents).toContain(`00-${INCOMING_TRACE}-${obo.spanId}-01`);
    expect(world.graph.traceparents).toContain(`00-${INCOMING_TRACE}-${graph.spanId}-01`);
  });

  it('marks a refused token with its reason, and names no one', () => {
    const failed = named('verify access token').filter((span) => span.status?.code === ERROR);
    expect(failed.map((span) => [span.status?.message, attributesOf(span)['error.type']])).toEqual([
      ['expired', 'expired'],
    ]);
  });

  it('traces WebSocket operations and Redis commands', () => {
    const subscription = only('subscription Greet');
    expect(subscription.kind).toBe(SERVER);
    expect(attributesOf(subscription)).toMatchObject({
      'graphql.operation.type': 'subscription',
      'graphql.operation.name': 'Greet',
      'network.protocol.name': 'websocket',
    });
    const redisSpans = spans.filter((span) => attributesOf(span)['db.system.name'] === 'redis');
    expect(redisSpans.map((span) => span.name)).toEqual(expect.arrayContaining(['evalsha', 'get']));
    // The command only: its keys are callers' ids and addresses.
    for (const span of redisSpans) expect(attributesOf(span)['db.query.text']).toBe(span.name);
  });

  it('exports the HTTP server metric of the semantic conventions', () => {
    expect(metricNames).toContain('http.server.request.duration');
  });

  it('exports no token, secret, Authorization value, document text or personal claim', () => {
    const exported = bodies.map((body) => body.text).join('\n');
    expect(exported.length).toBeGreaterThan(0);
    for (const secret of [...tokens, CLIENT_SECRET, 'Bearer ', 'ada@contoso.example', 'Ada Lovelace', 'hello {']) {
      expect(exported.includes(secret)).toBe(false);
    }
    expect(/authorization/i.test(exported)).toBe(false);
  });
});

function attributesOf(holder: { attributes?: OtlpSpan['attributes'] }): Record<string, unknown> {
  return Object.fromEntries(
    (holder.attributes ?? []).map(({ key, value }) => {
      const [inner] = Object.values(value);
      return [key, typeof inner === 'string' && /^\d+$/.test(inner) && 'intValue' in value ? Number(inner) : inner];
    }),
  );
}

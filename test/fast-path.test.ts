import 'reflect-metadata';
import { GraphQLError } from 'graphql';
import { Arg, Int, Mutation, Query, Resolver } from 'type-graphql';
import { Public, RequiresAuthContext, RequiresScopes } from '../src/authorization/directives';
import { startIdentityProvider, type IdentityProvider } from '../src/dev/identity-provider';
import { buildBareSchema } from '../src/schema/build-schema';
import { createTestServer, type TestServer } from './helpers/server';

/**
 * The fast path (src/graphql/fast-path.ts) answers the usual request without Apollo Server's pipeline; every answer
 * it gives must be Apollo Server's, byte for byte. Each case sends a document the server has not seen, twice: Apollo
 * Server answers the first (and the fast path learns the document), the fast path the second. The metrics say who
 * answered each.
 */

let touches = 0;

@Resolver()
class Probe {
  @Mutation((_returns) => Int)
  @Public()
  touch(): number {
    return (touches += 1);
  }

  @Query((_returns) => String)
  @Public()
  open(): string {
    return 'open';
  }

  @Query((_returns) => String)
  @Public()
  echo(@Arg('text', (_type) => String) text: string): string {
    return text;
  }

  @Query((_returns) => String, { nullable: true })
  @Public()
  broken(): string {
    throw new Error('connection string Password=hunter2 rejected');
  }

  @Query((_returns) => String, { nullable: true })
  @Public()
  teapot(): string {
    throw new GraphQLError('Short and stout', {
      extensions: { code: 'TEAPOT', http: { status: 418, headers: new Map([['X-Teapot', 'yes']]) } },
    });
  }

  @Query((_returns) => String, { nullable: true })
  @RequiresScopes('Payroll.Read')
  @RequiresAuthContext('c1')
  payroll(): string {
    return 'payroll';
  }
}

let idp: IdentityProvider;
let product: TestServer;
let probe: TestServer;
let reject: TestServer;

beforeAll(async () => {
  idp = await startIdentityProvider();
  product = await createTestServer({}, idp);
  probe = await createTestServer({}, idp, undefined, { bare: buildBareSchema([Probe]) });
  reject = await createTestServer({ AUTHZ_MODE: 'reject' }, idp);
});
afterAll(async () => {
  await Promise.all([product, probe, reject].map((api) => api?.close()));
  await idp?.close();
});

interface Sent {
  status: number;
  headers: Record<string, string>;
  body: string;
}

async function send(api: TestServer, body: unknown, headers: Record<string, string>): Promise<Sent> {
  const response = await fetch(`${api.url}/graphql`, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', 'x-request-id': 'fast-path-case', ...headers },
  });
  const all = Object.fromEntries(response.headers);
  delete all['date'];
  return { status: response.status, headers: all, body: await response.text() };
}

async function answeredBy(api: TestServer): Promise<{ fast: number; apollo: number }> {
  const text = await (await fetch(`${api.url}/metrics`)).text();
  const count = (path: string) =>
    Number(new RegExp(`^graphql_http_requests_total\\{path="${path}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  return { fast: count('fast'), apollo: count('apollo') };
}

let documents = 0;
/** The query, made new to the server by a comment, so that Apollo Server answers it first. */
const fresh = (query: string) => `${query}\n# ${(documents += 1)}`;

/** Sends `body` twice; returns both answers and who gave each. */
async function twice(
  api: TestServer,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<{ apollo: Sent; fast: Sent; answeredBy: string[] }> {
  const who: string[] = [];
  const sent: Sent[] = [];
  for (let i = 0; i < 2; i += 1) {
    const before = await answeredBy(api);
    sent.push(await send(api, body, headers));
    const after = await answeredBy(api);
    who.push(after.fast > before.fast ? 'fast' : after.apollo > before.apollo ? 'apollo' : 'nobody');
  }
  return { apollo: sent[0]!, fast: sent[1]!, answeredBy: who };
}

const bearer = async (options?: Parameters<IdentityProvider['mint']>[0]) => ({
  authorization: `Bearer ${await idp.mint(options)}`,
});

describe('the fast path answers as Apollo Server does', () => {
  const HELLO = '{ hello { username employeeId scopes kind } }';

  it('a greeting, for each Accept value it takes', async () => {
    const accepts = [
      undefined,
      '*/*',
      'application/json',
      'application/graphql-response+json, application/json',
      'application/graphql-response+json,application/json;q=0.9',
      'application/graphql-response+json, application/json;q=0.9',
    ];
    const headers = await bearer();
    for (const accept of accepts) {
      const reply = await twice(product, { query: fresh(HELLO) }, { ...headers, ...(accept && { accept }) });
      expect([accept, reply.answeredBy, reply.fast]).toEqual([accept, ['apollo', 'fast'], reply.apollo]);
      expect(reply.fast.status).toBe(200);
      expect(reply.fast.headers['content-type']).toBe(
        accept?.startsWith('application/graphql-response+json')
          ? 'application/graphql-response+json; charset=utf-8'
          : 'application/json; charset=utf-8',
      );
    }
  });

  it('a greeting with the JSON type and its charset, null fields, variables, an operation chosen by name', async () => {
    const headers = await bearer();
    const bodies = [
      { query: fresh(HELLO), operationName: null, variables: null },
      { query: fresh('query Mine { hello { username } } query Other { hello { kind } }'), operationName: 'Other' },
      {
        query: fresh('query Named($kind: Boolean!) { hello { username kind @include(if: $kind) } }'),
        variables: { kind: false },
      },
      { query: fresh('{ a: hello { username } b: hello { ...F } } fragment F on User { kind __typename }') },
    ];
    for (const body of bodies) {
      const reply = await twice(product, body, { ...headers, 'content-type': 'application/json; charset=utf-8' });
      expect([body, reply.answeredBy, reply.fast]).toEqual([body, ['apollo', 'fast'], reply.apollo]);
      expect(reply.fast.status).toBe(200);
    }
  });

  it('no token: 401 with the challenge', async () => {
    const reply = await twice(product, { query: fresh(HELLO) });
    expect(reply.answeredBy).toEqual(['apollo', 'fast']);
    expect(reply.fast).toEqual(reply.apollo);
    expect(reply.fast.status).toBe(401);
    expect(reply.fast.headers['www-authenticate']).toBe(
      `Bearer resource_metadata="${product.url}/.well-known/oauth-protected-resource"`,
    );
  });

  it('a user without the scope, an app without the role: 403 insufficient_scope', async () => {
    for (const headers of [await bearer({ scopes: 'Files.Read' }), await bearer({ kind: 'app', roles: [] })]) {
      const reply = await twice(product, { query: fresh(HELLO) }, headers);
      expect(reply.answeredBy).toEqual(['apollo', 'fast']);
      expect(reply.fast).toEqual(reply.apollo);
      expect(reply.fast.status).toBe(403);
      expect(reply.fast.headers['www-authenticate']).toMatch(/^Bearer error="insufficient_scope"/);
    }
  });

  it('partial data: 200 with the refused field null and its error', async () => {
    const query = fresh('{ hello { kind profile { displayName } } }');
    for (const headers of [await bearer({ kind: 'app' }), await bearer()]) {
      const reply = await twice(product, { query }, headers);
      expect(reply.fast).toEqual(reply.apollo);
      expect(reply.fast.status).toBe(200);
      expect(JSON.parse(reply.fast.body)).toMatchObject({ data: { hello: { profile: null } }, errors: [{}] });
    }
  });

  it('an unexpected error: masked, with the request id, and its message never sent', async () => {
    const reply = await twice(probe, { query: fresh('{ open broken }') });
    expect(reply.answeredBy).toEqual(['apollo', 'fast']);
    expect(reply.fast).toEqual(reply.apollo);
    expect(JSON.parse(reply.fast.body)).toEqual({
      errors: [
        {
          message: 'Internal server error',
          extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: 'fast-path-case' },
        },
      ],
      data: { open: 'open', broken: null },
    });
    expect(reply.fast.body).not.toContain('hunter2');
  });

  it("an error's own status and headers lift into the answer's head", async () => {
    const reply = await twice(probe, { query: fresh('{ teapot }') });
    expect(reply.answeredBy).toEqual(['apollo', 'fast']);
    expect(reply.fast).toEqual(reply.apollo);
    expect([reply.fast.status, reply.fast.headers['x-teapot']]).toEqual([418, 'yes']);
    expect(JSON.parse(reply.fast.body)).toEqual({
      errors: [
        {
          message: 'Short and stout',
          locations: [{ line: 1, column: 3 }],
          path: ['teapot'],
          extensions: { code: 'TEAPOT' },
        },
      ],
      data: { teapot: null },
    });
  });

  it('a step-up: 401 with the claims challenge', async () => {
    const headers = await bearer({ scopes: 'Payroll.Read', claims: { xms_cc: ['cp1'] } });
    const reply = await twice(probe, { query: fresh('{ payroll }') }, headers);
    expect(reply.answeredBy).toEqual(['apollo', 'fast']);
    expect(reply.fast).toEqual(reply.apollo);
    expect(reply.fast.status).toBe(401);
    expect(reply.fast.headers['www-authenticate']).toMatch(/error="insufficient_claims", claims="/);
  });

  it('a mutation, run once per request', async () => {
    const before = touches;
    const reply = await twice(probe, { query: fresh('mutation { touch }') });
    expect(reply.answeredBy).toEqual(['apollo', 'fast']);
    expect(touches - before).toBe(2);
    expect([reply.apollo.body, reply.fast.body]).toEqual([
      `{"data":{"touch":${before + 1}}}\n`,
      `{"data":{"touch":${before + 2}}}\n`,
    ]);
    expect(reply.fast.headers).toEqual(reply.apollo.headers);
  });

  it('variables, coerced, and sent back', async () => {
    const query = fresh('query Echo($text: String!) { echo(text: $text) }');
    const reply = await twice(probe, { query, variables: { text: 'naïve "quoted" \u2028' } });
    expect(reply.answeredBy).toEqual(['apollo', 'fast']);
    expect(reply.fast).toEqual(reply.apollo);
    expect(JSON.parse(reply.fast.body)).toEqual({ data: { echo: 'naïve "quoted" \u2028' } });
  });
});

describe('the fast path hands to Apollo Server what it does not take, before anything runs', () => {
  it('variables that do not coerce: 400 BAD_USER_INPUT', async () => {
    const query = fresh('query Echo($text: String!) { echo(text: $text) }');
    expect((await twice(probe, { query, variables: { text: 'x' } })).answeredBy).toEqual(['apollo', 'fast']);
    const reply = await twice(probe, { query, variables: { text: 3 } });
    expect(reply.answeredBy).toEqual(['apollo', 'apollo']);
    expect(reply.fast).toEqual(reply.apollo);
    expect(reply.fast.status).toBe(400);
    expect(JSON.parse(reply.fast.body)).toMatchObject({ errors: [{ extensions: { code: 'BAD_USER_INPUT' } }] });
  });

  it('an operation it cannot resolve, a subscription, a mutation without a root, extensions, another field, another media type', async () => {
    const headers = await bearer();
    const known = fresh('query A { hello { username } } query B { hello { kind } }');
    expect((await twice(product, { query: known, operationName: 'A' }, headers)).answeredBy).toEqual([
      'apollo',
      'fast',
    ]);
    const cases: [Record<string, unknown>, Record<string, string>, number][] = [
      [{ query: known }, {}, 400],
      [{ query: known, operationName: 'C' }, {}, 400],
      [{ query: known, operationName: 'A', extensions: {} }, {}, 200],
      [{ query: known, operationName: 'A', documentId: 'x' }, {}, 200],
      [{ query: known, operationName: 'A' }, { accept: 'application/graphql-response+json' }, 200],
      [{ query: known, operationName: 'A' }, { 'content-type': 'application/json; charset=UTF-8' }, 200],
      [{ query: fresh('subscription { greetings { message } }') }, {}, 400],
      [{ query: fresh('mutation { hello { username } }') }, {}, 400],
    ];
    for (const [body, extra, status] of cases) {
      const reply = await twice(product, body, { ...headers, ...extra });
      expect([body, extra, reply.answeredBy, reply.fast.status]).toEqual([body, extra, ['apollo', 'apollo'], status]);
      expect(reply.fast).toEqual(reply.apollo);
    }
  });

  it('a refused credential, spending the failure budget once per request', async () => {
    const api = await createTestServer({ RATE_LIMIT_AUTH_FAILURES: '3' }, idp);
    try {
      const query = fresh('{ hello { username } }');
      expect((await twice(api, { query }, await bearer())).answeredBy).toEqual(['apollo', 'fast']);
      const elsewhere = await bearer({ audience: 'api://another-api' });
      const statuses = [];
      for (let i = 0; i < 3; i += 1) statuses.push((await send(api, { query }, elsewhere)).status);
      statuses.push((await send(api, { query }, await bearer())).status);
      expect(statuses).toEqual([401, 401, 401, 429]);
      expect(await answeredBy(api)).toEqual({ fast: 1, apollo: 5 });
    } finally {
      await api.close();
    }
  });

  it("spends the caller's request budget once per request", async () => {
    const api = await createTestServer({ RATE_LIMIT_CALLER_REQUESTS: '3' }, idp);
    try {
      const query = fresh('{ hello { username } }');
      const headers = await bearer();
      const statuses = [];
      for (let i = 0; i < 4; i += 1) statuses.push((await send(api, { query }, headers)).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      expect(await answeredBy(api)).toEqual({ fast: 2, apollo: 2 });
    } finally {
      await api.close();
    }
  });

  it('AUTHZ_MODE=reject: a refused operation is refused whole by Apollo Server; an allowed one runs fast', async () => {
    const query = fresh('{ hello { kind profile { displayName } } }');
    const refused = await twice(reject, { query }, await bearer({ kind: 'app' }));
    expect(refused.answeredBy).toEqual(['apollo', 'apollo']);
    expect(refused.fast).toEqual(refused.apollo);
    expect(refused.fast.status).toBe(403);
    const allowed = await twice(reject, { query: fresh('{ hello { kind } }') }, await bearer({ kind: 'app' }));
    expect(allowed.answeredBy).toEqual(['apollo', 'fast']);
    expect(allowed.fast).toEqual(allowed.apollo);
    expect(allowed.fast.status).toBe(200);
  });
});

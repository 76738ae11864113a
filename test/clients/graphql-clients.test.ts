import { CombinedGraphQLErrors } from '@apollo/client';
import type { GraphQLFormattedError } from 'graphql';
import { ClientError } from 'graphql-request';
import { HelloDocument, type HelloQuery } from '../generated/graphql';
import { createTestServer, type TestServer } from '../helpers/server';
// The README's snippets, as it shows them (test/docs.test.ts compares).
import { createApolloClient } from './readme/apollo-client';
import { createGraphqlRequestClient } from './readme/graphql-request';
import { createUrqlClient } from './readme/urql';

/**
 * Three GraphQL clients that nobody here wrote, each with its default options (Apollo Client with an auth link,
 * graphql-request, urql, which sends queries as GET), against the real server: a verified caller gets `hello`, and
 * each refusal reaches the caller's code with its `extensions` (code, reason, and when to retry).
 */
interface Outcome {
  data?: HelloQuery['hello'];
  /** The HTTP status, where the client exposes it (Apollo Client 4 does not). */
  status?: number;
  errors?: readonly GraphQLFormattedError[];
}

interface GraphqlClient {
  readonly name: string;
  /** The method the client sends a query with, by default. */
  readonly method: 'GET' | 'POST';
  readonly exposesStatus: boolean;
  hello(url: string, token: string): Promise<Outcome>;
}

const apolloClient: GraphqlClient = {
  name: '@apollo/client',
  method: 'POST',
  exposesStatus: false,
  async hello(url, token) {
    const client = createApolloClient(url, token);
    try {
      const result = await client.query({ query: HelloDocument });
      return { data: result.data!.hello };
    } catch (error) {
      if (!CombinedGraphQLErrors.is(error)) throw error;
      return { errors: error.errors };
    } finally {
      client.stop();
    }
  },
};

const graphqlRequest: GraphqlClient = {
  name: 'graphql-request',
  method: 'POST',
  exposesStatus: true,
  async hello(url, token) {
    const client = createGraphqlRequestClient(url, token);
    try {
      return { data: (await client.request(HelloDocument)).hello };
    } catch (error) {
      if (!(error instanceof ClientError)) throw error;
      return { status: error.response.status, errors: error.response.errors ?? [] };
    }
  },
};

const urql: GraphqlClient = {
  name: '@urql/core',
  method: 'GET',
  exposesStatus: true,
  async hello(url, token) {
    const client = createUrqlClient(url, token);
    const result = await client.query(HelloDocument, {}).toPromise();
    if (!result.error) return { data: result.data!.hello };
    if (result.error.networkError) throw result.error.networkError;
    return {
      status: (result.error.response as Response).status,
      errors: result.error.graphQLErrors.map(({ message, extensions }) => ({ message, extensions })),
    };
  },
};

const RATE_LIMIT = 2;
let api: TestServer;

beforeAll(async () => {
  api = await createTestServer({ RATE_LIMIT_CALLER_REQUESTS: String(RATE_LIMIT) });
});
afterAll(async () => api.close());

/** A user of their own for each test, so that one test's requests never spend another's budget. */
let users = 0;
function freshUser(): Record<string, string> {
  users += 1;
  return { oid: `00000000-0000-4000-8000-${String(users).padStart(12, '0')}` };
}

function methodsSeen(): unknown[] {
  return api.logs.filter((line) => line['msg'] === 'request completed').map((line) => line['method']);
}

describe.each([apolloClient, graphqlRequest, urql])('$name with its default options', (client) => {
  const url = () => `${api.url}/graphql`;
  const expectStatus = (outcome: Outcome, status: number) =>
    expect(outcome.status).toBe(client.exposesStatus ? status : undefined);

  it(`gets hello with a token, sent as ${client.method}`, async () => {
    const before = methodsSeen().length;
    const outcome = await client.hello(url(), await api.idp.mint({ claims: freshUser() }));
    expect(outcome).toEqual({
      data: expect.objectContaining({
        username: 'ada@contoso.example',
        employeeId: 'E-1815',
        scopes: ['access_as_user'],
        kind: 'USER',
      }),
    });
    expect(methodsSeen().slice(before)).toEqual([client.method]);
  });

  it('surfaces an expired token: 401 UNAUTHENTICATED expired', async () => {
    const token = await api.idp.mint({ issuedAt: Math.floor(Date.now() / 1000) - 7200, expiresInSeconds: 3600 });
    const outcome = await client.hello(url(), token);
    expectStatus(outcome, 401);
    expect(outcome.errors).toEqual([
      expect.objectContaining({
        message: 'Token has expired: request a new access token',
        extensions: { code: 'UNAUTHENTICATED', reason: 'expired' },
      }),
    ]);
  });

  it('surfaces a missing scope: 403 FORBIDDEN insufficient_scope', async () => {
    const outcome = await client.hello(url(), await api.idp.mint({ scopes: 'Files.Read', claims: freshUser() }));
    expectStatus(outcome, 403);
    expect(outcome.errors).toEqual([
      expect.objectContaining({
        message: 'This operation needs one of the delegated scopes: access_as_user',
        extensions: {
          code: 'FORBIDDEN',
          reason: 'insufficient_scope',
          scope: 'access_as_user',
          scopes: [['access_as_user']],
        },
      }),
    ]);
  });

  it('surfaces rate limiting: 429 RATE_LIMITED with retryAfterSeconds', async () => {
    const token = await api.idp.mint({ claims: freshUser() });
    for (let i = 0; i < RATE_LIMIT; i += 1) expect((await client.hello(url(), token)).data).toBeDefined();
    const outcome = await client.hello(url(), token);
    expectStatus(outcome, 429);
    expect(outcome.errors).toHaveLength(1);
    const { message, extensions } = outcome.errors![0]!;
    const retryAfterSeconds = extensions?.['retryAfterSeconds'];
    expect(retryAfterSeconds).toEqual(expect.any(Number));
    expect(retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(retryAfterSeconds).toBeLessThanOrEqual(60);
    expect(message).toBe(`Too many requests: retry after ${retryAfterSeconds} s`);
    expect(extensions).toEqual({ code: 'RATE_LIMITED', reason: 'caller_requests', retryAfterSeconds });
  });
});

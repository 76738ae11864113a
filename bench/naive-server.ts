// The naive variant: a bare Apollo Server on Fastify 5 that verifies every token with jose in its context
// function (remote key set, no cache, no rate limits, no logs), as most tutorials do.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApolloServer } from '@apollo/server';
import fastifyApollo from '@as-integrations/fastify';
import Fastify from 'fastify';
import { GraphQLError } from 'graphql';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';

const typeDefs = readFileSync(join(__dirname, '../../schema.graphql'), 'utf8');
const authority = process.env['AZURE_AUTHORITY_HOST'] as string;
const tenant = process.env['AZURE_TENANT_ID'] as string;
const clientId = process.env['AZURE_CLIENT_ID'] as string;
const keys = createRemoteJWKSet(new URL(`${authority}/${tenant}/discovery/v2.0/keys`));

interface Claims {
  claims: JWTPayload;
}

async function main(): Promise<void> {
  const app = Fastify();
  const apollo = new ApolloServer<Claims>({
    typeDefs,
    resolvers: {
      Query: {
        hello: (_parent: unknown, _args: unknown, { claims }: Claims) => ({
          username: claims['preferred_username'],
          employeeId: claims['employeeid'] ?? null,
          scopes: String(claims['scp'] ?? '').split(' '),
          roles: claims['roles'] ?? [],
          name: claims['name'] ?? null,
          tenantId: claims['tid'],
          objectId: claims['oid'],
          kind: 'USER',
          isGuest: false,
          message: 'Hello World! You are authenticated.',
        }),
      },
    },
  });
  await apollo.start();
  await app.register(fastifyApollo(apollo), {
    context: async (request) => {
      try {
        const token = (request.headers.authorization ?? '').replace(/^Bearer /i, '');
        const { payload } = await jwtVerify(token, keys, {
          issuer: `${authority}/${tenant}/v2.0`,
          audience: clientId,
          algorithms: ['RS256'],
        });
        return { claims: payload };
      } catch {
        throw new GraphQLError('Unauthorized', { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
      }
    },
  });
  await app.listen({ port: Number(process.env['PORT']), host: '127.0.0.1' });
}

void main();

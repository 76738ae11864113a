// The naive variant: a bare Apollo Server on Fastify 5 that verifies every token with jose in its context
// function (remote key set, no cache, no rate limits, no logs), as most tutorials do.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApolloServer } from '@apollo/server';
import fastifyApollo from '@as-integrations/fastify';
import Fastify from 'fastify';
import { GraphQLError } from 'graphql';
import type { JWTPayload } from 'jose';
import { userOf, verifiedClaims } from './jose-peer';

const typeDefs = readFileSync(join(__dirname, '../../schema.graphql'), 'utf8');

interface Claims {
  claims: JWTPayload;
}

async function main(): Promise<void> {
  const app = Fastify();
  const apollo = new ApolloServer<Claims>({
    typeDefs,
    resolvers: { Query: { hello: (_parent: unknown, _args: unknown, { claims }: Claims) => userOf(claims) } },
  });
  await apollo.start();
  await app.register(fastifyApollo(apollo), {
    context: async (request) => {
      try {
        return { claims: await verifiedClaims(request.headers.authorization) };
      } catch {
        throw new GraphQLError('Unauthorized', { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
      }
    },
  });
  await app.listen({ port: Number(process.env['PORT']), host: '127.0.0.1' });
}

void main();

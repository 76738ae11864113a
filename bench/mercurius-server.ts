// The peer: Mercurius with graphql-jit on Fastify 5, the fastest common Node GraphQL stack, verifying every request's
// token with jose's jwtVerify (remote key set from the same local identity provider, no cache) before the operation
// runs. The product must be at least as fast with every one of its protections on (docs/performance.md).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import type { JWTPayload } from 'jose';
import mercurius from 'mercurius';
import { userOf, verifiedClaims } from './jose-peer';

const typeDefs = readFileSync(join(__dirname, '../../schema.graphql'), 'utf8');

declare module 'fastify' {
  interface FastifyRequest {
    claims?: JWTPayload;
  }
}
declare module 'mercurius' {
  interface MercuriusContext {
    claims: JWTPayload;
  }
}

async function main(): Promise<void> {
  const app = Fastify();
  app.addHook('preHandler', async (request, reply) => {
    try {
      request.claims = await verifiedClaims(request.headers.authorization);
    } catch {
      return reply.code(401).header('www-authenticate', 'Bearer error="invalid_token"').send({ errors: [] });
    }
  });
  await app.register(mercurius, {
    schema: typeDefs,
    // Compiles an operation with graphql-jit from its first repetition on.
    jit: 1,
    context: (request) => ({ claims: request.claims as JWTPayload }),
    resolvers: {
      Query: {
        hello: (_parent, _args, { claims }) => userOf(claims),
      },
    },
  });
  await app.listen({ port: Number(process.env['PORT']), host: '127.0.0.1' });
}

void main();

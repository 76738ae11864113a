// The naive variant: a bare Apollo Server on Express 5 that verifies every token with jose in its context
// function (remote key set, no cache, no rate limits, no logs), as most tutorials do.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import { GraphQLError } from 'graphql';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';

const typeDefs = readFileSync(join(__dirname, '../../schema.graphql'), 'utf8');
const authority = process.env['AZURE_AUTHORITY_HOST'] as string;
const tenant = process.env['AZURE_TENANT_ID'] as string;
const clientId = process.env['AZURE_CLIENT_ID'] as string;
const keys = createRemoteJWKSet(new URL(`${authority}/${tenant}/discovery/v2.0/keys`));

async function main(): Promise<void> {
  const apollo = new ApolloServer<{ claims: JWTPayload }>({
    typeDefs,
    resolvers: {
      Query: {
        hello: (_parent: unknown, _args: unknown, { claims }: { claims: JWTPayload }) => ({
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
  const app = express();
  app.use(
    '/graphql',
    express.json(),
    expressMiddleware(apollo, {
      context: async ({ req }) => {
        try {
          const token = (req.headers.authorization ?? '').replace(/^Bearer /i, '');
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
    }),
  );
  createServer(app).listen(Number(process.env['PORT']), '127.0.0.1');
}

void main();

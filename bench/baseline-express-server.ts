// For choosing the HTTP integration: the same bare Apollo baseline on Express 5 instead of Fastify 5.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';

const typeDefs = readFileSync(join(__dirname, '../../schema.graphql'), 'utf8');
const user = {
  username: 'ada@contoso.example',
  employeeId: 'E-1815',
  scopes: ['access_as_user'],
  roles: [],
  name: 'Ada Lovelace',
  tenantId: '7b6a1c4e-0d3f-4c2a-9e51-3f8d2b7a6c10',
  objectId: '3f1e2d4c-5b6a-4789-8a0b-1c2d3e4f5a6b',
  kind: 'USER',
  isGuest: false,
  message: 'Hello World! You are authenticated.',
};

async function main(): Promise<void> {
  const apollo = new ApolloServer({ typeDefs, resolvers: { Query: { hello: () => user } } });
  await apollo.start();
  const app = express();
  app.use('/graphql', express.json(), expressMiddleware(apollo));
  createServer(app).listen(Number(process.env['PORT']), '127.0.0.1');
}

void main();

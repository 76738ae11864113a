// For choosing the HTTP integration: the same bare Apollo baseline on Express 5 instead of Fastify 5.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { ApolloServer } from '@apollo/server';
import { STATIC_USER } from './static-user';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';

const typeDefs = readFileSync(join(__dirname, '../../schema.graphql'), 'utf8');

async function main(): Promise<void> {
  const apollo = new ApolloServer({ typeDefs, resolvers: { Query: { hello: () => STATIC_USER } } });
  await apollo.start();
  const app = express();
  app.use('/graphql', express.json(), expressMiddleware(apollo));
  createServer(app).listen(Number(process.env['PORT']), '127.0.0.1');
}

void main();

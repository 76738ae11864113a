// The baseline: a bare Apollo Server on the same HTTP integration as the product (Fastify 5), serving the
// product's schema with a static `hello` resolver and no authentication at all.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApolloServer } from '@apollo/server';
import { STATIC_USER } from './static-user';
import fastifyApollo, { fastifyApolloDrainPlugin } from '@as-integrations/fastify';
import Fastify from 'fastify';

const typeDefs = readFileSync(join(__dirname, '../../schema.graphql'), 'utf8');

async function main(): Promise<void> {
  const app = Fastify();
  const apollo = new ApolloServer({
    typeDefs,
    resolvers: { Query: { hello: () => STATIC_USER } },
    plugins: [fastifyApolloDrainPlugin(app)],
  });
  await apollo.start();
  await app.register(fastifyApollo(apollo));
  await app.listen({ port: Number(process.env['PORT']), host: '127.0.0.1' });
}

void main();

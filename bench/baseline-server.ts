// The baseline: a bare Apollo Server on the same HTTP integration as the product (Fastify 5), serving the
// product's schema with a static `hello` resolver and no authentication at all.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApolloServer } from '@apollo/server';
import fastifyApollo, { fastifyApolloDrainPlugin } from '@as-integrations/fastify';
import Fastify from 'fastify';

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
  const app = Fastify();
  const apollo = new ApolloServer({
    typeDefs,
    resolvers: { Query: { hello: () => user } },
    plugins: [fastifyApolloDrainPlugin(app)],
  });
  await apollo.start();
  await app.register(fastifyApollo(apollo));
  await app.listen({ port: Number(process.env['PORT']), host: '127.0.0.1' });
}

void main();

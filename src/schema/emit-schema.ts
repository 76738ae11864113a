import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { printSchemaWithDirectives } from '@graphql-tools/utils';
import { buildBareSchema } from './build-schema';

// Writes schema.graphql, or with --check fails when the committed file is stale. The authorization directives are
// printed where they apply, with their definitions, so that clients, codegen and gateways see what each field needs.
const target = resolve(__dirname, '../../schema.graphql');
const sdl = `${printSchemaWithDirectives(buildBareSchema())}\n`;
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    // a missing file is stale
  }
  if (current !== sdl) {
    console.error('schema.graphql is stale: run `npm run schema` and commit it');
    process.exit(1);
  }
  console.log('schema.graphql is current');
} else {
  writeFileSync(target, sdl);
  console.log(`wrote ${target}`);
}

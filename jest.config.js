/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // jose 6 ships ES modules only; ts-jest turns it (and our TypeScript) into CommonJS for jest.
  transform: { '^.+\\.[tj]s$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.jest.json' }] },
  transformIgnorePatterns: ['/node_modules/(?!jose/)'],
  collectCoverageFrom: [
    'src/**/*.ts',
    '!src/main.ts',
    '!src/dev/launch.ts',
    '!src/dev/token-cli.ts',
    '!src/schema/emit-schema.ts',
  ],
  coverageThreshold: {
    './src/auth/': { branches: 97, functions: 95, lines: 99, statements: 98 },
  },
  testTimeout: 20000,
  // One line per suite skipped on this machine, and why.
  globalSetup: '<rootDir>/test/global-setup.ts',
};

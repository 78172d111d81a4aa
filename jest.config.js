/** Jest with SWC: type checking is done once by `npm run typecheck`, not per test. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  // fauxqs (the SQS emulator) ships ESM only; jest loads it through SWC like our own code.
  moduleNameMapper: { '^fauxqs$': '<rootDir>/node_modules/fauxqs/dist/app.js' },
  transformIgnorePatterns: ['/node_modules/(?!fauxqs/)'],
  setupFiles: ['<rootDir>/test/support/env.js'],
  snapshotSerializers: ['<rootDir>/test/support/asset-hash-serializer.js'],
  testTimeout: 120000,
};

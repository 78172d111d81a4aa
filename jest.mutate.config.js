/**
 * Jest for mutation runs (`npm run mutate`): the project's config, with the tests of the
 * selected group only (stryker.config.js sets EDGE_MUTATE_TESTS), no snapshot writes, and
 * failing fast: one failed test kills the mutant.
 */
const { join } = require('node:path');
const base = require('./jest.config');

const tests = (process.env.EDGE_MUTATE_TESTS || '').split(',').filter(Boolean);
module.exports = {
  ...base,
  testMatch: tests.length ? tests.map((t) => `<rootDir>/${t}`) : base.testMatch,
  ci: true,
  bail: 1,
  // Within a file, the first failed test skips the rest (test/support/bail-environment.cjs).
  // An absolute path: Stryker's jest runner loads the environment itself, without <rootDir>.
  testEnvironment: join(__dirname, 'test/support/bail-environment.cjs'),
};

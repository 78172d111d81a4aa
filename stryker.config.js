/**
 * `npm run mutate`: mutation testing (Stryker, jest runner, TypeScript checker) of the modules
 * in test/support/mutation-modules.js. MUTATE=<group>[,<group>] picks groups (default: all).
 * Reports: reports/mutation/mutation.json and mutation.html. docs/testing.md says when to run it.
 */
const { writeFileSync } = require('node:fs');
const groups = require('./test/support/mutation-modules');

const picked = (process.env.MUTATE || Object.keys(groups).join(',')).split(',').map((g) => g.trim()).filter(Boolean);
for (const name of picked) {
  if (!groups[name]) throw new Error(`MUTATE: unknown group "${name}" (groups: ${Object.keys(groups).join(', ')})`);
}
const mutate = [...new Set(picked.flatMap((g) => groups[g].mutate))];
const tests = [...new Set(picked.flatMap((g) => groups[g].tests))];
// perTest runs only the tests that reached a mutant; a group whose code caches what a mutant
// changes (the compiled parameters schema) asks for 'all' instead.
const coverageAnalysis = picked.some((g) => groups[g].coverageAnalysis === 'all') ? 'all' : 'perTest';
// The jest config of the sandbox reads the tests to run from here.
process.env.EDGE_MUTATE_TESTS = tests.join(',');
// The TypeScript checker compiles only the mutated files and what they import: with the whole
// project (npm run typecheck: about a minute here) it took 40 s a mutant.
const CHECKER_TSCONFIG = '.stryker-tsconfig.json';
writeFileSync(CHECKER_TSCONFIG, `${JSON.stringify({ extends: './tsconfig.json', include: [], files: mutate }, null, 2)}\n`);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
module.exports = {
  packageManager: 'npm',
  testRunner: 'jest',
  jest: { projectType: 'custom', configFile: 'jest.mutate.config.js', enableFindRelatedTests: false },
  checkers: ['typescript'],
  tsconfigFile: CHECKER_TSCONFIG,
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  mutate,
  coverageAnalysis,
  reporters: ['json', 'html', 'clear-text', 'progress'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  // Two cores shared with everything else: one test process, one checker.
  concurrency: Number(process.env.MUTATE_CONCURRENCY || 1),
  timeoutMS: 60_000,
  timeoutFactor: 2,
  incremental: process.env.MUTATE_INCREMENTAL === '1',
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
  thresholds: { high: 90, low: 80, break: null },
  ignorePatterns: ['cdk.out', 'cdk.out.*', 'bench-results', 'reports', '.edge-data', 'coverage'],
};

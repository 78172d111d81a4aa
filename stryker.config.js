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
// MUTATE_OUT=<name> lets two runs share a checkout: each writes reports/mutation/<name>.json
// (default: mutation.json), its own checker config and its own sandbox.
const out = process.env.MUTATE_OUT || 'mutation';
if (!/^[a-z0-9-]+$/i.test(out)) throw new Error(`MUTATE_OUT: letters, digits and '-' only (got "${out}")`);
const CHECKER_TSCONFIG = out === 'mutation' ? '.stryker-tsconfig.json' : `.stryker-tsconfig.${out}.json`;
writeFileSync(CHECKER_TSCONFIG, `${JSON.stringify({ extends: './tsconfig.json', include: [], files: mutate }, null, 2)}\n`);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
module.exports = {
  packageManager: 'npm',
  testRunner: 'jest',
  jest: { projectType: 'custom', configFile: 'jest.mutate.config.js', enableFindRelatedTests: false },
  checkers: ['typescript'],
  // Mutants inside log statements are not run (test/support/stryker-log-ignorer.cjs says why).
  plugins: ['@stryker-mutator/*', './test/support/stryker-log-ignorer.cjs'],
  ignorers: ['log-statements'],
  tsconfigFile: CHECKER_TSCONFIG,
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  mutate,
  coverageAnalysis,
  reporters: ['json', 'html', 'clear-text', 'progress'],
  jsonReporter: { fileName: `reports/mutation/${out}.json` },
  htmlReporter: { fileName: `reports/mutation/${out}.html` },
  // Two cores shared with everything else: one test process, one checker.
  concurrency: Number(process.env.MUTATE_CONCURRENCY || 1),
  timeoutMS: 60_000,
  timeoutFactor: 2,
  incremental: process.env.MUTATE_INCREMENTAL === '1',
  incrementalFile: out === 'mutation' ? 'reports/mutation/stryker-incremental.json' : `reports/mutation/stryker-incremental.${out}.json`,
  tempDirName: out === 'mutation' ? '.stryker-tmp' : `.stryker-tmp/${out}`,
  cleanTempDir: true,
  thresholds: { high: 90, low: 80, break: null },
  ignorePatterns: ['cdk.out', 'cdk.out.*', 'bench-results', 'reports', '.edge-data', 'coverage', '.stryker-tmp', '.stryker-tsconfig.*.json'],
};

/**
 * The log-statement ignorer (test/support/stryker-log-ignorer.cjs) as Stryker's instrumenter
 * uses it: the source parsed by Babel, `shouldIgnore` asked of each node on the way down, and
 * a mutant ignored when the node it changes or one of its ancestors got a reason.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse } from '@babel/parser';
import traverse, { NodePath } from '@babel/traverse';

// @stryker-mutator/api is ESM only; the ignorer needs only the plugin declaration from it.
jest.mock('@stryker-mutator/api/plugin', () => ({
  PluginKind: { Ignore: 'Ignore' },
  declareClassPlugin: (kind: string, name: string, injectableClass: unknown) => ({ kind, name, injectableClass }),
}));

interface Ignorer {
  shouldIgnore(path: NodePath): string | undefined;
}
const { strykerPlugins } = require('./stryker-log-ignorer.cjs') as {
  strykerPlugins: { kind: string; name: string; injectableClass: new () => Ignorer }[];
};

function ignorer(): Ignorer {
  const plugin = strykerPlugins.find((p) => p.kind === 'Ignore' && p.name === 'log-statements');
  if (!plugin) throw new Error('no Ignore plugin named log-statements (stryker.config.js asks for it)');
  return new plugin.injectableClass();
}

/** Each string literal in `code` (the mutants' stand-in: Stryker's StringLiteral mutator changes them) and whether it is ignored. */
function ignoredStrings(code: string): Record<string, boolean> {
  const ast = parse(code, { sourceType: 'module', plugins: ['typescript'] });
  const plugin = ignorer();
  const result: Record<string, boolean> = {};
  traverse(ast, {
    StringLiteral(path) {
      result[path.node.value] = path.find((p) => Boolean(plugin.shouldIgnore(p))) !== null;
    },
  });
  return result;
}

test('a log call on one line is ignored, for each shape of logger', () => {
  const code = [
    "logger.info('bare logger', { id: 'bare field' });",
    "ctx.logger.warn('context logger');",
    "this.logger.log('info', 'control plane logger', { profile: 'control plane field' });",
  ].join('\n');
  expect(ignoredStrings(code)).toEqual({
    'bare logger': true,
    'bare field': true,
    'context logger': true,
    info: true,
    'control plane logger': true,
    'control plane field': true,
  });
});

test('a log call spread over several lines is ignored in every argument', () => {
  const code = `
class Stage {
  halt(reason: string, replacement: boolean) {
    this.logger.log('warn', 'canary rollout halted', {
      profile: 'p',
      reason: reason ? reason : 'no reason',
    });
    this.logger.log('info', replacement ? 'canary replaced' : 'no node to replace it', {
      generation: 1 + 1,
    });
    ctx.logger.error(
      'worker fault',
      { attempt: 'third' },
    );
  }
}`;
  expect(ignoredStrings(code)).toEqual({
    warn: true,
    'canary rollout halted': true,
    p: true,
    'no reason': true,
    info: true,
    'canary replaced': true,
    'no node to replace it': true,
    'worker fault': true,
    third: true,
  });
});

test('a log call that is not a statement of its own is ignored too', () => {
  const code = "const done = () => this.logger.log('info', 'arrow body');\nvoid logger.info('void operand');";
  expect(ignoredStrings(code)).toEqual({ info: true, 'arrow body': true, 'void operand': true });
});

test('calls that are not logging are mutated, even with a log-like name', () => {
  const code = [
    "this.log.push('journal entry');",
    "catalog.info('catalog method');",
    "store.put('table write', { logger: 'a field named logger' });",
    "logger.createChild({ persistentKeys: { requestId: 'child logger' } });",
    "const level = 'outside any call';",
    // A bare function named log could be any helper (a journal, an audit record): its mutants run.
    "log({ level: 'error', msg: 'log function' });",
  ].join('\n');
  expect(ignoredStrings(code)).toEqual({
    'journal entry': false,
    'catalog method': false,
    'table write': false,
    'a field named logger': false,
    'child logger': false,
    'outside any call': false,
    error: false,
    'log function': false,
  });
});

test('Stryker finds the plugin when it imports the file as an ES module', () => {
  const url = pathToFileURL(join(__dirname, 'stryker-log-ignorer.cjs')).href;
  const script = `const m = await import(${JSON.stringify(url)}); console.log(JSON.stringify((m.strykerPlugins ?? []).map((p) => [p.kind, p.name])));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  expect(JSON.parse(out)).toEqual([['Ignore', 'log-statements']]);
});

/**
 * A Stryker ignorer (https://stryker-mutator.io/docs/stryker-js/disable-mutants/): mutants
 * inside a log call (`logger.info(...)`, `ctx.logger.warn(...)`, `this.logger.log('info', ...)`)
 * are not run. A log line's words and fields change nothing a tenant or the
 * platform can observe through the API or the table, and the tests run with a silent logger;
 * such mutants would only survive and cost minutes each. Stryker reports them as "Ignored"
 * with the reason below.
 *
 * Stryker asks `shouldIgnore` of every node on its way down the tree; the first node that gets
 * a reason ignores every mutant beneath it, however many lines its arguments span.
 */
const { PluginKind, declareClassPlugin } = require('@stryker-mutator/api/plugin');

// The Powertools Logger's methods (the broker) and the control plane's `log(level, ...)`.
const LOG_METHODS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'critical', 'log']);

/** `logger`, or `<anything>.logger` (`this.logger`, `ctx.logger`, `this.options.logger`). */
function isLogger(node) {
  if (node.type === 'Identifier') return node.name === 'logger';
  return node.type === 'MemberExpression' && !node.computed && node.property.type === 'Identifier' && node.property.name === 'logger';
}

/**
 * `<logger>.<log method>(...)`, wherever it stands (a statement, an arrow's body, an argument).
 * Only calls on a logger: a bare `log(...)` could be any helper, whose mutants must run.
 */
function isLogCall(node) {
  if (node.type !== 'CallExpression' && node.type !== 'OptionalCallExpression') return false;
  const callee = node.callee;
  if (callee.type !== 'MemberExpression' && callee.type !== 'OptionalMemberExpression') return false;
  if (callee.computed || callee.property.type !== 'Identifier' || !LOG_METHODS.has(callee.property.name)) return false;
  return isLogger(callee.object);
}

class LogStatementIgnorer {
  shouldIgnore(path) {
    return isLogCall(path.node) ? 'a log statement: its words and fields are not behaviour the tests can observe (tests log nothing)' : undefined;
  }
}

// Stryker imports this file as ESM: Node finds `exports.<name> = ...` assignments, not an object literal's computed values.
module.exports.strykerPlugins = [declareClassPlugin(PluginKind.Ignore, 'log-statements', LogStatementIgnorer)];

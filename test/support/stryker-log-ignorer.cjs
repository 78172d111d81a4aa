/**
 * A Stryker ignorer (https://stryker-mutator.io/docs/stryker-js/disable-mutants/): mutants
 * inside a log statement (`logger.info(...)`, `ctx.logger.warn(...)`, ...) are not run. A log
 * line's words and fields change nothing a tenant or the platform can observe through the
 * API or the table, and the tests run with a silent logger; such mutants would only survive
 * and cost minutes each. Stryker reports them as "Ignored" with the reason below.
 */
const { PluginKind, declareClassPlugin } = require('@stryker-mutator/api/plugin');

const LOG_METHODS = new Set(['debug', 'info', 'warn', 'error']);

/** `logger.<method>(...)` or `<anything>.logger.<method>(...)` as a statement of its own. */
function isLogStatement(path) {
  if (!path.isExpressionStatement()) return false;
  const call = path.node.expression;
  if (call.type !== 'CallExpression' || call.callee.type !== 'MemberExpression') return false;
  const { object, property } = call.callee;
  if (property.type !== 'Identifier' || !LOG_METHODS.has(property.name)) return false;
  if (object.type === 'Identifier') return object.name === 'logger';
  return object.type === 'MemberExpression' && object.property.type === 'Identifier' && object.property.name === 'logger';
}

class LogStatementIgnorer {
  shouldIgnore(path) {
    return isLogStatement(path) ? 'a log statement: its words and fields are not behaviour the tests can observe (tests log nothing)' : undefined;
  }
}

module.exports.strykerPlugins = [declareClassPlugin(PluginKind.Ignore, 'log-statements', LogStatementIgnorer)];

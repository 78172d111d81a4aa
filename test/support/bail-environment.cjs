/**
 * The jest environment of mutation runs (jest.mutate.config.js): once a test of the file has
 * failed, the file's remaining tests are skipped. One failure is enough to kill a mutant, and
 * jest's own `bail` only stops between files: without this, a mutant that breaks the first
 * test of a broker test file would still run the other forty on the emulators. jest-circus
 * dispatches `test_start` before it decides whether a test is skipped, so setting the test's
 * mode there skips it.
 */
const { TestEnvironment } = require('jest-environment-node');

class BailEnvironment extends TestEnvironment {
  failed = false;

  async handleTestEvent(event) {
    if (event.name === 'test_fn_failure' || event.name === 'hook_failure') this.failed = true;
    if (event.name === 'test_start' && this.failed) event.test.mode = 'skip';
  }
}

module.exports = BailEnvironment;

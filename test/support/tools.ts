/**
 * Tests that run a real tool (shellcheck, nft, jq, a Python with Jinja2, g++ with RE2...) go
 * through `withTools`: with every tool present they run; locally, a missing tool skips them
 * with a message naming the tool and how to install it; with EDGE_REQUIRE_TOOLS=1 (what
 * .ci/run sets) a missing tool fails the run instead, so CI never passes by skipping.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface Tool {
  /** What is needed, as a person would name it. */
  readonly name: string;
  /** How to get it (a command or a sentence). */
  readonly install: string;
  /** Whether it is there. */
  present(): boolean;
}

const onPath = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;

/** A command found on PATH, installed by a Debian package. */
export function command(name: string, debianPackage = name): Tool {
  return { name, install: `apt-get install ${debianPackage}`, present: () => onPath(name) };
}

/** The tools the tests use, by name. */
export const TOOLS = {
  bash: command('bash'),
  curl: command('curl'),
  jq: command('jq'),
  sha256sum: command('sha256sum', 'coreutils'),
  shellcheck: command('shellcheck'),
  nft: command('nft', 'nftables'),
  gxx: command('g++'),
  libre2: { name: "RE2's headers (re2/re2.h)", install: 'apt-get install libre2-dev', present: () => existsSync('/usr/include/re2/re2.h') } as Tool,
  jinja2: {
    name: 'a python3 with jinja2',
    install: 'apt-get install python3-jinja2',
    present: () => pythonWithJinja2() !== undefined,
  } as Tool,
} satisfies Record<string, Tool>;

/** The Python that can import jinja2, if any. */
export function pythonWithJinja2(): string | undefined {
  return ['python3', 'python', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import jinja2'], { stdio: 'ignore' }).status === 0);
}

/** Whether a missing tool fails the run (CI) rather than skipping (a laptop). */
export const toolsRequired = () => process.env.EDGE_REQUIRE_TOOLS === '1';

/** The message for the tools that are missing: each named with how to install it. */
export function missingMessage(what: string, missing: readonly Tool[]): string {
  return `${what} need ${missing.map((t) => `${t.name} (${t.install})`).join(', ')}`;
}

export interface WithTools {
  /** The tools that are missing (empty: everything is there). */
  readonly missing: readonly Tool[];
  /** `describe` when every tool is there; otherwise skips (saying why), or fails under EDGE_REQUIRE_TOOLS=1. */
  readonly describe: (name: string, body: () => void) => void;
  /** The same for one test. */
  readonly test: (name: string, body: () => unknown, timeout?: number) => void;
}

/**
 * Guards the tests that need `tools`; `what` names them in the message ("the shellcheck lint").
 * Checks once, when called (at the top of a test file).
 */
export function withTools(what: string, tools: readonly Tool[]): WithTools {
  const missing = tools.filter((t) => !t.present());
  if (!missing.length) return { missing, describe: (name, body) => describe(name, body), test: (name, body, timeout) => test(name, body as jest.ProvidesCallback, timeout) };
  const message = missingMessage(what, missing);
  if (toolsRequired()) {
    const fail = () => {
      throw new Error(`${message}; EDGE_REQUIRE_TOOLS=1 makes a missing tool a failure`);
    };
    return { missing, describe: (name) => describe(name, () => test('has the tools it needs', fail)), test: (name) => test(name, fail) };
  }
  console.warn(`skipped: ${message}`);
  return { missing, describe: (name, body) => describe.skip(name, body), test: (name, body) => test.skip(name, body as jest.ProvidesCallback) };
}

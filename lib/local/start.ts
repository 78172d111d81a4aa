/**
 * `npm start`: the whole platform on loopback (DESIGN.md "Local platform").
 *
 * stdout carries exactly one line, `edge platform ready: ...` naming the three endpoints,
 * so that scripts can wait for it; progress and the components' JSON logs go to stderr.
 * Ctrl-C or SIGTERM stops everything and exits 0; a second Ctrl-C (half a second or more after the
 * first: copies of one Ctrl-C arrive together) exits at once (1).
 * A bad setting or a port in use prints one line naming the variable and exits 1.
 */
import './process-env';
import { ConfigError, loadConfig } from '../config';
import { PlatformError, readyLine, startLocalPlatform } from './platform';
import { SettingsError, readLocalSettings } from './settings';

const writeStdout = process.stdout.write.bind(process.stdout);
/** How long after a stop signal another one is taken as a copy of it (see requestStop). */
const ECHO_WINDOW_MS = 500;
const progress = (line: string) => process.stderr.write(`edge: ${line}\n`);

/**
 * The components log JSON with console/stdout writers created inside them; sending every
 * other stdout write to stderr keeps stdout for the ready line alone.
 */
function routeLogsToStderr(): void {
  process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
}

/** One line a person can act on (a config error's list of problems joined), a stack only for the unexpected. */
function fail(err: unknown): never {
  let text: string;
  if (err instanceof ConfigError) text = err.message.replace(/:\n\s+- /, ': ').replace(/\n\s+- /g, '; ');
  else if (err instanceof SettingsError || err instanceof PlatformError) text = err.message;
  else text = String((err as Error)?.stack ?? err);
  process.stderr.write(`edge: cannot start: ${text}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  const started = performance.now();
  let settings;
  let config;
  try {
    settings = readLocalSettings();
    // The platform config as the CDK app reads it (EDGE_CONFIG_FILE), EDGE_DOMAIN only when set.
    config = loadConfig(() => undefined, process.env);
  } catch (err) {
    fail(err);
  }
  routeLogsToStderr();

  let stopRequested: string | undefined;
  let stopRequestedAt = 0;
  const onStop: { run?: () => void } = {};
  const requestStop = (signal: string) => {
    if (stopRequested) {
      // One Ctrl-C reaches this process more than once: the terminal signals the whole process
      // group, npm passes its copy on to its child (@npmcli/run-script's signal-manager), and
      // the tsx CLI relays its own copy when this process has not told it within 30 ms that it
      // got one (privatenumber/tsx src/cli.ts, relaySignals). Copies within ECHO_WINDOW_MS are
      // the same Ctrl-C; a later one is the person asking to force.
      if (performance.now() - stopRequestedAt < ECHO_WINDOW_MS) return;
      progress(`${signal} again: exiting without a clean stop`);
      process.exit(1);
    }
    stopRequested = signal;
    stopRequestedAt = performance.now();
    progress(`${signal}: stopping (press Ctrl-C again to force)`);
    onStop.run?.();
  };
  process.on('SIGINT', () => requestStop('SIGINT'));
  process.on('SIGTERM', () => requestStop('SIGTERM'));

  progress(`starting the local platform (state ${settings.dataDir ? `in ${settings.dataDir}` : 'in memory'})`);
  let platform;
  try {
    platform = await startLocalPlatform(settings, { config, onProgress: (e) => progress(`${e.message} (${e.ms} ms)`) });
  } catch (err) {
    fail(err);
  }
  const stop = async () => {
    await platform.stop();
    progress('stopped cleanly');
    process.exit(0);
  };
  if (stopRequested) return stop();
  onStop.run = () => void stop().catch(fail);

  progress(`started in ${Math.round(performance.now() - started)} ms; discovery token: EDGE_XDS_AUTH_TOKEN, broker password: EDGE_BROKER_PASSWORD`);
  writeStdout(`${readyLine(platform)}\n`);
}

main().catch(fail);

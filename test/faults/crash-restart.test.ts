/**
 * Fault: the whole platform killed hard (`kill -9` of the process running
 * `lib/local/start.ts`, what `npm start` runs) with operations in flight -- three
 * provisions, an update and a deprovision -- at three kill points:
 *
 * - `answering`: while the broker is still answering the requests (some answers are lost);
 * - `early-steps`: the moment a worker is seen in an early step (validate, claim, or a
 *   deprovision's first DNS delete);
 * - `late-steps`: the moment a worker is seen publishing a route, writing DNS records or
 *   releasing hostnames;
 * - `at-gate`: every operation has reached the convergence gate and waits there.
 *
 * The killed run holds every operation in flight by its gate setting
 * (`EDGE_CONVERGENCE_EMPTY_REGION=wait`: no proxy is connected, so nothing can pass),
 * so at the kill no accepted operation can have finished. Then the platform restarts on
 * the same EDGE_DATA_DIR (in process, through startLocalPlatform as `npm start` does, with
 * the default gate), and every accepted operation (every 202) must complete, exactly
 * once, with nothing lost: the table, the DNS records, the hostname claims and the queues
 * agree.
 */
import { CloudAction, LocalCloud } from '../../lib/broker/runtime/cloud/local';
import { startEmulators } from '../../lib/local/emulators';
import { LocalPlatform, startLocalPlatform } from '../../lib/local/platform';
import { LocalSettings } from '../../lib/local/settings';
import { testSettings } from '../e2e/support/platform';
import {
  DOMAIN,
  Item,
  PASSWORD,
  PlatformProcess,
  Osb,
  Reply,
  TABLE,
  TOKEN,
  USER,
  osb,
  provisionBody,
  queueDepth,
  readActions,
  rerunActions,
  scanTable,
  settle,
  tempDataDir,
  waitFor,
} from './support/harness';

type KillPoint = 'answering' | 'early-steps' | 'late-steps' | 'at-gate';

/** What last_operation says while a worker is at that stage (the kill follows the first sighting). */
const INSIDE_STEPS = {
  'early-steps': /validating parameters|claiming hostnames|halting the cancelled|deleting DNS records/,
  'late-steps': /publishing the route|writing DNS records|withdrawing the route from the edge|releasing hostnames/,
};

const host = (name: string) => `${name}.${DOMAIN}`;
const UPDATED_BACKENDS = [{ address: '10.0.0.99', port: 9090, protocol: 'http' }];

function settingsFor(dataDir: string): LocalSettings {
  return testSettings({ brokerUser: USER, brokerPassword: PASSWORD, xdsAuthToken: TOKEN, domain: DOMAIN, dataDir });
}

/** One request of the burst, which can be sent again (as an OSB platform retries an unanswered one). */
interface Intent {
  readonly instanceId: string;
  readonly kind: 'provision' | 'update' | 'deprovision';
  send(call: Osb): Promise<Reply>;
}

interface Sent {
  readonly intent: Intent;
  /** Undefined: the answer was lost with the process. */
  readonly reply?: Reply;
}

/** Three provisions, an update of `<tag>-upd` and a deprovision of `<tag>-del`. */
function burst(tag: string): Intent[] {
  const { service_id, plan_id } = provisionBody([]);
  const provisions = [1, 2, 3].map((n): Intent => {
    const instanceId = `${tag}-new${n}`;
    return { instanceId, kind: 'provision', send: (call) => call('PUT', `/v2/service_instances/${instanceId}?accepts_incomplete=true`, provisionBody([host(instanceId)])) };
  });
  return [
    ...provisions,
    { instanceId: `${tag}-upd`, kind: 'update', send: (call) => call('PATCH', `/v2/service_instances/${tag}-upd?accepts_incomplete=true`, { service_id, parameters: { backends: UPDATED_BACKENDS } }) },
    { instanceId: `${tag}-del`, kind: 'deprovision', send: (call) => call('DELETE', `/v2/service_instances/${tag}-del?accepts_incomplete=true&service_id=${service_id}&plan_id=${plan_id}`) },
  ];
}

/** What one kill point saw, for the summary printed at the end. */
const summaries: string[] = [];

describe('fault: the platform killed hard (kill -9) with operations in flight', () => {
  const platforms: LocalPlatform[] = [];
  const children: PlatformProcess[] = [];
  const dirs: Array<ReturnType<typeof tempDataDir>> = [];

  afterAll(async () => {
    for (const child of children) await child.kill9();
    for (const platform of platforms) await platform.stop();
    for (const dir of dirs) dir.remove();
    if (summaries.length) process.stderr.write(`crash-restart fault summary:\n${summaries.map((s) => `  ${s}`).join('\n')}\n`);
  });

  it.each<KillPoint>(['answering', 'early-steps', 'late-steps', 'at-gate'])('killed %s: after a restart on the same EDGE_DATA_DIR every accepted operation completes, once', async (point) => {
    const dir = tempDataDir(`crash-${point}`);
    dirs.push(dir);
    const tag = point.replace('-', '');

    // Before: two instances provisioned (to be updated and deprovisioned), then a clean stop.
    const setup = await startLocalPlatform(settingsFor(dir.path), { quiet: true });
    platforms.push(setup);
    const setupCall = osb(setup.brokerUrl);
    for (const name of [`${tag}-upd`, `${tag}-del`]) {
      const reply = await setupCall('PUT', `/v2/service_instances/${name}?accepts_incomplete=true`, provisionBody([host(name)]));
      expect(reply.status).toBe(202);
      expect((await settle(setupCall, name, reply.body.operation)).body.state).toBe('succeeded');
    }
    await setup.stop();
    const setupActions = readActions(dir.path).length;

    // The killed run: npm start on the data dir, its gate holding every operation.
    const { process: child, endpoints } = await PlatformProcess.start({ EDGE_DATA_DIR: dir.path, EDGE_CONVERGENCE_EMPTY_REGION: 'wait', EDGE_CONVERGENCE_POLL_SECONDS: '0.1' });
    children.push(child);
    const call = osb(endpoints.brokerUrl);
    const intents = burst(tag);

    let sent: Sent[];
    if (point === 'answering') {
      // Kill the moment the first answer arrives: the other requests are still being handled.
      let answered!: () => void;
      const firstAnswer = new Promise<void>((resolve) => (answered = resolve));
      const pending = intents.map((intent) =>
        intent.send(call).then(
          (reply): Sent => (answered(), { intent, reply }),
          (): Sent => ({ intent }),
        ),
      );
      const noAnswer = setTimeout(() => answered(), 15_000);
      await firstAnswer;
      clearTimeout(noAnswer);
      await child.kill9();
      sent = await Promise.all(pending);
    } else {
      sent = await Promise.all(intents.map(async (intent): Promise<Sent> => ({ intent, reply: await intent.send(call) })));
      const inside = INSIDE_STEPS[point as keyof typeof INSIDE_STEPS];
      if (inside) {
        // As soon as a worker is seen at that stage of its steps (polling as fast as the broker answers).
        // Each round awaits the broker's answers, so the loop never spins without waiting.
        const deadline = Date.now() + 10_000;
        let seen: string | undefined;
        const looked = new Set<string>();
        while (!seen && Date.now() <= deadline) {
          const descriptions: string[] = await Promise.all(sent.map(async ({ intent }) => (await call('GET', `/v2/service_instances/${intent.instanceId}/last_operation`)).body?.description ?? ''));
          descriptions.forEach((d) => looked.add(d));
          seen = descriptions.find((d) => inside.test(d));
        }
        // A kill point that was never reached tests nothing (it would be killed at the gate instead).
        expect({ point, seen: seen !== undefined, descriptions: seen ? [] : [...looked] }).toEqual({ point, seen: true, descriptions: [] });
      }
      if (point === 'at-gate') {
        await waitFor(
          'every operation to wait at the gate',
          async () => {
            for (const { intent } of sent) {
              const reply = await call('GET', `/v2/service_instances/${intent.instanceId}/last_operation`);
              if (!/waiting for the edge/.test(reply.body?.description ?? '')) return false;
            }
            return true;
          },
          20_000,
        );
      }
      await child.kill9();
    }
    expect(child.child.signalCode).toBe('SIGKILL');
    const actionsAtKill = readActions(dir.path).length;
    const accepted = sent.filter((s) => s.reply);
    for (const s of accepted) expect({ instance: s.intent.instanceId, status: s.reply!.status }).toEqual({ instance: s.intent.instanceId, status: 202 });
    if (point === 'answering') expect(accepted.length).toBeGreaterThan(0);
    else expect(accepted).toHaveLength(intents.length);

    // Where each operation was when the process died, read from the data dir it left.
    const atKill = await startEmulators({ dataDir: dir.path });
    const inProgressAtKill = (await scanTable(atKill.dynamodbEndpoint, TABLE).finally(() => atKill.stop())).filter((i) => i.sk.startsWith('OPERATION#') && i.state === 'in progress');
    const stepsAtKill = inProgressAtKill.map((o) => `${o.type} ${(o.completedSteps as string[]).length} steps done${o.busyUntil ? ` (inside ${o.step})` : ''}`).sort();
    // A route write the kill interrupted runs again after the restart, at a newer generation.
    const routeWritesCut = inProgressAtKill.filter((o) => o.busyUntil && ['write-route', 'tombstone-route', 'withdraw-route'].includes(o.step as string)).length;

    // The restart, on the same data dir, with the default gate.
    const platform = await startLocalPlatform(settingsFor(dir.path), { quiet: true });
    platforms.push(platform);
    // Nothing could finish before the kill: every accepted operation was still in progress.
    expect(platform.resumedOperations).toBeGreaterThanOrEqual(accepted.length);
    const again = osb(platform.brokerUrl);
    const succeeded: string[] = [];
    for (const s of accepted) {
      const done = await settle(again, s.intent.instanceId, s.reply!.body.operation, 30_000);
      expect({ instance: s.intent.instanceId, state: done.body.state }).toEqual({ instance: s.intent.instanceId, state: 'succeeded' });
      succeeded.push(s.reply!.body.operation);
    }
    // A request whose answer was lost is sent again, as an OSB platform does; it completes too.
    for (const s of sent.filter((s) => !s.reply)) {
      const retry = await s.intent.send(again);
      expect([200, 201, 202, 410]).toContain(retry.status);
      if (retry.status === 202) {
        expect((await settle(again, s.intent.instanceId, retry.body.operation, 30_000)).body.state).toBe('succeeded');
        succeeded.push(retry.body.operation);
      }
    }

    // Nothing lost, nothing left half-done: the table.
    await waitFor('the queue to drain', async () => (await queueDepth(platform.emulators.sqsEndpoint, platform.broker.queueUrl)) === 0);
    const items = await scanTable(platform.emulators.dynamodbEndpoint, platform.config.brokerTableName);
    const operations = items.filter((i) => i.sk.startsWith('OPERATION#'));
    expect(operations.filter((o) => o.state === 'in progress')).toEqual([]);
    // Besides the setup's provisions and the operations known to have succeeded, an
    // operation can only be one a request wrote before it died unanswered: finished either
    // way (failed, having done nothing, or succeeded, and the retry answered 200 or 410).
    const unanswered = new Set(sent.filter((s) => !s.reply).map((s) => `INSTANCE#${s.intent.instanceId}/${s.intent.kind}`));
    const setupOperation = (o: Item) => o.type === 'provision' && /-(upd|del)$/.test(o.pk);
    for (const o of operations.filter((o) => !succeeded.includes(o.operationId as string) && !setupOperation(o))) {
      expect({ operation: o.sk, unanswered: unanswered.has(`${o.pk}/${o.type}`) }).toEqual({ operation: o.sk, unanswered: true });
    }
    const instance = (id: string) => items.find((i) => i.pk === `INSTANCE#${id}` && i.sk === 'INSTANCE');
    const route = (id: string) => items.find((i) => i.pk === `ROUTE#${id}`);
    // Every instance points at operations that exist, and none is still busy.
    for (const item of items.filter((i) => i.sk === 'INSTANCE')) {
      expect(item.currentOperationId).toBeUndefined();
      expect(operations.some((o) => o.sk === `OPERATION#${item.lastOperationId}`)).toBe(true);
    }

    // Every change of the burst applied: routes, DNS records, hostname claims.
    const cloud = platform.broker.cloud as LocalCloud;
    const claim = (name: string) => items.find((i) => i.pk === `HOSTNAME#${host(name)}`)?.instanceId;
    for (const { instanceId, kind } of intents) {
      if (kind === 'deprovision') {
        expect(instance(instanceId)?.state).toBe('deleted');
        expect(route(instanceId)?.deleted).toBe(true);
        expect(cloud.records.has(host(instanceId))).toBe(false);
        expect(claim(instanceId)).toBeUndefined();
        continue;
      }
      expect(instance(instanceId)?.state).toBe('provisioned');
      expect(route(instanceId)).toMatchObject({ deleted: false, spec: { hostnames: [host(instanceId)], backends: kind === 'update' ? UPDATED_BACKENDS : provisionBody([]).parameters.backends } });
      expect(cloud.records.get(host(instanceId))?.value).toBe(DOMAIN);
      expect(claim(instanceId)).toBe(instanceId);
    }
    expect(await queueDepth(platform.emulators.sqsEndpoint, platform.broker.dlqUrl)).toBe(0);

    // The edge would see each change once: every route's generation is unique, and the
    // control plane holds the live routes (not the deprovisioned one).
    const generations = items.filter((i) => i.pk.startsWith('ROUTE#')).map((r) => r.generation as number);
    expect(new Set(generations).size).toBe(generations.length);
    // The counter advanced once per change: 2 setup provisions + 3 provisions, the update and
    // the deprovision's tombstone = 7; plus one per route write the kill cut short (the
    // re-run step writes the same route again at a newer generation: the edge sees no change).
    const counter = items.find((i) => i.pk === 'COUNTER')?.value as number;
    expect(counter).toBeGreaterThanOrEqual(7);
    expect(counter).toBeLessThanOrEqual(7 + routeWritesCut);
    // Cloud calls the killed run made and the restarted one made again (a step re-run after the crash; idempotent).
    const actions = readActions(dir.path);
    const repeats = rerunActions(actions.slice(setupActions, actionsAtKill), actions.slice(actionsAtKill));
    // Work is done twice only where the kill cut a step short: each repeated action is the
    // re-run of the step an operation was inside at the kill (its hostnames), at most one per such operation.
    const cutHosts = new Set(inProgressAtKill.filter((o) => o.busyUntil).map((o) => host(o.pk.replace(/^INSTANCE#/, ''))));
    const hostsOf = (a: CloudAction): string[] => [
      ...((a.records as Array<{ name: string }> | undefined) ?? []).map((r) => r.name),
      ...((a.names as string[] | undefined) ?? []),
      ...((a.hostnames as string[] | undefined) ?? []),
    ];
    for (const repeat of repeats) {
      const hosts = hostsOf(repeat);
      expect({ repeat: repeat.action, hosts, cutShort: hosts.length > 0 && hosts.every((h) => cutHosts.has(h)) }).toEqual({ repeat: repeat.action, hosts, cutShort: true });
    }
    expect(repeats.length).toBeLessThanOrEqual(cutHosts.size);
    summaries.push(
      `${point}: ${accepted.length} of ${sent.length} answered 202 before the kill; in progress at the kill: ${stepsAtKill.join(', ') || 'none'}; `+
        `${platform.resumedOperations} operation(s) resumed after the restart, every accepted one succeeded; ` +
        `${operations.filter((o) => !succeeded.includes(o.operationId as string) && !setupOperation(o)).map((o) => `${o.type} ${o.state}`).join(', ') || 'no'} operation(s) of unanswered requests; ` +
        `route generation counter ${counter}; cloud actions repeated after the crash (idempotent re-runs): ${repeats.length ? repeats.map((a) => a.action).join(', ') : 'none'}`,
    );
    await platform.stop();
  });
});

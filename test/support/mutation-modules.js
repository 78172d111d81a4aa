/**
 * The modules `npm run mutate` mutates, in groups (MUTATE=<group>; all groups when unset),
 * each with the tests that exercise it: Stryker runs only those (a mutation run of the whole
 * suite would take days on this machine). Issue 17 named the modules where a wrong line hurts
 * tenants most. The control plane's are listed by path: its stage files (issue 16 split
 * control-plane.ts into them).
 */
module.exports = {
  /** Hostname rules: what a tenant may ask for (unit tests only: minutes). */
  hostnames: {
    mutate: ['lib/model/hostnames.ts', 'lib/model/hostname-problems.ts'],
    tests: ['test/model/hostnames.test.ts'],
  },
  /**
   * The broker's claims on hostnames and the rules only the broker applies: called directly
   * (hostname-claims.test.ts, the store's answer given by the test), with the model's rules.
   * The race on the emulators (tenant-names.test.ts) is too slow to run once per mutant.
   */
  claims: {
    mutate: ['lib/broker/runtime/hostnames.ts'],
    tests: ['test/broker/hostname-claims.test.ts', 'test/model/hostnames.test.ts'],
  },
  /** The rule over backend addresses: nothing that reaches the proxy host, the platform or its networks. */
  targets: {
    mutate: ['lib/model/targets.ts'],
    tests: ['test/model/targets.test.ts'],
  },
  /** The service parameters' schema checks (the catalog's JSON Schema plus the rules beyond it). */
  parameters: {
    mutate: ['lib/model/service-parameters.ts', 'lib/model/validate-parameters.ts'],
    // Pure functions: the schema rule by rule (service-parameters.test.ts) and the rules it calls.
    // The validator compiles the schema once per mode and regions and keeps it, so per-test
    // coverage would give every schema mutant to the first test that compiled it: run them all.
    coverageAnalysis: 'all',
    tests: ['test/model/service-parameters.test.ts', 'test/model/envoy-limits.test.ts', 'test/model/hostnames.test.ts', 'test/model/targets.test.ts'],
  },
  /**
   * The OSB handlers' rules: what each request may do, and what it answers, in three groups
   * (823 mutants in all: one group took hours on the shared machine). All three run
   * handleOsbRequest in-process on the DynamoDB emulator (started once for the file), no worker.
   * MUTATE=osbRequests,osbInstances,osbBindings runs them all.
   */
  /** What every request passes: routing, the API version, ids, bodies, the common fields. */
  osbRequests: {
    mutate: ['lib/broker/runtime/osb/request.ts', 'lib/broker/runtime/osb/router.ts'],
    tests: ['test/broker/osb-handlers.test.ts'],
  },
  /** Provision, update, deprovision, fetch and last_operation. */
  osbInstances: {
    mutate: ['lib/broker/runtime/osb/instances.ts'],
    tests: ['test/broker/osb-handlers.test.ts'],
  },
  /** Bindings. */
  osbBindings: {
    mutate: ['lib/broker/runtime/osb/bindings.ts'],
    tests: ['test/broker/osb-handlers.test.ts'],
  },
  /**
   * The worker's steps: what a provision, update and deprovision do, in order
   * (workOnOperation in-process on the DynamoDB emulator with the LocalCloud).
   */
  worker: {
    mutate: ['lib/broker/runtime/worker/steps.ts', 'lib/broker/runtime/worker/step-kit.ts'],
    tests: ['test/broker/worker-steps.test.ts'],
  },
  /**
   * The worker's run of an operation: step claims, leases, retries, failure descriptions and
   * the final writes. Every test of worker-steps.test.ts passes through it, so each mutant
   * runs the file: a group of its own (about as long as `worker`).
   */
  workerRuns: {
    mutate: ['lib/broker/runtime/worker/worker.ts'],
    tests: ['test/broker/worker-steps.test.ts'],
  },
  /**
   * The control plane's rollout (canary, trains, blame) and quarantine (stage 5,
   * docs/control-plane.md "Stages"): the stage driven directly through its callbacks with fake
   * timers, blame and quarantine as the pure functions and class they are, the canary
   * settings (unit tests only: the gRPC rollout tests of canary.test.ts, rollout-trains,
   * region-canary, convergence and quarantine.test.ts take seconds a run, too slow per mutant).
   */
  rollout: {
    mutate: [
      'lib/control-plane/runtime/canary.ts',
      'lib/control-plane/runtime/rollout/rollout.ts',
      'lib/control-plane/runtime/rollout/blame.ts',
      'lib/control-plane/runtime/rollout/quarantine.ts',
    ],
    tests: [
      'test/control-plane/rollout-stage.test.ts',
      'test/control-plane/blame.test.ts',
      'test/control-plane/quarantine-record.test.ts',
      'test/control-plane/canary-settings.test.ts',
    ],
  },
  /**
   * The control plane's render stage (stages 2 and 3) and snapshots, called directly: the
   * stage, ResourceMap, SharedUnits, encodings, versions and reference checks
   * (render-units.test.ts), render what changed (render-diff.test.ts) and validation
   * (validation.test.ts). The gRPC tests (per-service, edge-gate, convergence, canary) take
   * seconds a run, too slow per mutant.
   */
  render: {
    mutate: [
      'lib/control-plane/runtime/render/render-stage.ts',
      'lib/control-plane/runtime/render/resource-map.ts',
      'lib/control-plane/runtime/render/shared-units.ts',
      'lib/control-plane/runtime/snapshot.ts',
    ],
    tests: ['test/control-plane/render-units.test.ts', 'test/control-plane/render-diff.test.ts', 'test/control-plane/validation.test.ts'],
  },
};

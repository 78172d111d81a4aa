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
   * The broker's claims on hostnames and the rules only the broker applies (its tests run the
   * broker on the emulators: about an hour for this group on the shared 2-core machine).
   */
  claims: {
    mutate: ['lib/broker/runtime/hostnames.ts'],
    tests: ['test/broker/tenant-names.test.ts', 'test/broker/osb-conformance.test.ts'],
  },
  /** The rule over backend addresses: nothing that reaches the proxy host, the platform or its networks. */
  targets: {
    mutate: ['lib/model/targets.ts'],
    tests: ['test/model/targets.test.ts'],
  },
  /** The service parameters' schema checks (the catalog's JSON Schema plus the rules beyond it). */
  parameters: {
    mutate: ['lib/model/service-parameters.ts', 'lib/model/validate-parameters.ts'],
    tests: ['test/model/hostnames.test.ts', 'test/model/targets.test.ts', 'test/broker/osb-conformance.test.ts', 'test/broker/isolation-settings.test.ts'],
  },
  /** The OSB handlers' rules: what each request may do, and what it answers. */
  osb: {
    mutate: ['lib/broker/runtime/osb/instances.ts', 'lib/broker/runtime/osb/bindings.ts', 'lib/broker/runtime/osb/request.ts', 'lib/broker/runtime/osb/router.ts'],
    tests: ['test/broker/osb-conformance.test.ts', 'test/broker/tenant-names.test.ts', 'test/broker/expired-operations.test.ts'],
  },
  /** The worker's steps: what a provision, update and deprovision do, in order. */
  worker: {
    mutate: ['lib/broker/runtime/worker/steps.ts', 'lib/broker/runtime/worker/step-kit.ts', 'lib/broker/runtime/worker/worker.ts'],
    tests: ['test/broker/worker.test.ts', 'test/broker/convergence.test.ts', 'test/broker/osb-conformance.test.ts', 'test/broker/tenant-names.test.ts'],
  },
  /**
   * The control plane's rollout (canary, trains, blame), quarantine and render stages (the
   * stage files of lib/control-plane/runtime/, docs/control-plane.md "Stages").
   */
  controlPlane: {
    mutate: [
      'lib/control-plane/runtime/canary.ts',
      'lib/control-plane/runtime/rollout/rollout.ts',
      'lib/control-plane/runtime/rollout/blame.ts',
      'lib/control-plane/runtime/rollout/quarantine.ts',
      'lib/control-plane/runtime/render/render-stage.ts',
      'lib/control-plane/runtime/render/resource-map.ts',
      'lib/control-plane/runtime/render/shared-units.ts',
      'lib/control-plane/runtime/snapshot.ts',
    ],
    tests: [
      'test/control-plane/canary.test.ts',
      'test/control-plane/rollout-trains.test.ts',
      'test/control-plane/region-canary.test.ts',
      'test/control-plane/convergence.test.ts',
      'test/control-plane/quarantine.test.ts',
      'test/control-plane/validation.test.ts',
      'test/control-plane/per-service.test.ts',
      'test/control-plane/render-diff.test.ts',
      'test/control-plane/edge-gate.test.ts',
    ],
  },
};

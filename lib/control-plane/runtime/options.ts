import { CanarySettings } from './canary';
import { CanaryHealthSettings } from './canary-health';
import { CdnOriginSource } from './cdn-origin';
import { ContextSource, PlatformSettings } from './context';
import { DiscoveryTokens } from './discovery-token';
import { Logger } from './logger';
import { SnapshotStore } from './persistence';
import { TemplateRegistry } from './templates';
import { TenantRulePolicy } from './tenant-rules';

/** What a control plane is built with (control-plane.ts; runtime.ts and local.ts fill it from the environment). */
export interface ControlPlaneOptions {
  readonly region: string;
  /** The discovery token, when it never changes (else `discoveryTokens`). */
  readonly authToken?: string;
  /** The accepted discovery tokens, re-read (discovery-token.ts); default: `authToken` alone. */
  readonly discoveryTokens?: DiscoveryTokens;
  /** Settings before any source overrides them. */
  readonly settings: PlatformSettings;
  /** The first source is primary (the broker's routes): nothing renders from sources until it has loaded. */
  readonly sources: readonly ContextSource[];
  readonly store?: SnapshotStore;
  readonly registry?: TemplateRegistry;
  readonly logger?: Logger;
  readonly persistDebounceMs?: number;
  /** Canary rollout of new snapshots (unset or fraction 0: every node gets a new snapshot at once). */
  readonly canary?: CanarySettings;
  /** Canary health over HDS (unset: off). */
  readonly canaryHealth?: CanaryHealthSettings;
  /** Default RESTART_CANARY_WAIT_MS. */
  readonly restartCanaryWaitMs?: number;
  /** Default PROFILE_IDLE_MS. */
  readonly profileIdleMs?: number;
  /** Default MAX_PROFILES. */
  readonly maxProfiles?: number;
  /** The cdn origin secret (cdn-origin.ts), also one of `sources`; unset: cdn hosts refuse every request. */
  readonly cdnOrigin?: CdnOriginSource;
  /** The tenant rules' fleet CIDRs and loopback waiver (tenant-rules.ts; default: no fleet CIDRs, loopback refused). */
  readonly tenantRules?: Pick<TenantRulePolicy, 'fleetCidrs' | 'allowLoopbackBackends'>;
}

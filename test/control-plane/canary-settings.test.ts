/**
 * Canary settings (canary.ts) by the rules of docs/control-plane.md "Canary rollout":
 * EDGE_CANARY_FRACTION a number 0..1 (0: no canary), EDGE_CANARY_SOAK_MS whole ms 0..3600000,
 * `ceil(fraction x nodes)` canaries, at least 1, the node ids with the lowest SHA-256.
 */
import { createHash } from 'node:crypto';
import { canaryCount, canarySettingsFromEnv, checkCanarySettings, chooseCanaries, DEFAULT_CANARY, LOCAL_CANARY } from '../../lib/control-plane/runtime/canary';

const DEFAULTS = { fraction: 0.05, soakMs: 30_000 };

describe('canary settings', () => {
  it('defaults: 5% with 30 s of soak in AWS, 1 s locally', () => {
    expect(DEFAULT_CANARY).toEqual({ fraction: 0.05, soakMs: 30_000 });
    expect(LOCAL_CANARY).toEqual({ fraction: 0.05, soakMs: 1000 });
  });

  it('accepts the bounds', () => {
    for (const s of [{ fraction: 0, soakMs: 0 }, { fraction: 1, soakMs: 3_600_000 }, { fraction: 0.5, soakMs: 10, ackTimeoutMs: 0 }, { fraction: 0.5, soakMs: 10, ackTimeoutMs: 5000 }]) {
      expect(checkCanarySettings(s)).toBe(s);
    }
  });

  it('refuses a fraction outside 0..1, naming EDGE_CANARY_FRACTION and what it got', () => {
    for (const fraction of [-0.01, 1.01, Number.NaN, Number.POSITIVE_INFINITY, '0.5' as unknown as number]) {
      expect(() => checkCanarySettings({ fraction, soakMs: 0 })).toThrow(`EDGE_CANARY_FRACTION: must be a number from 0 (no canary) to 1 (got ${JSON.stringify(fraction)})`);
    }
  });

  it('refuses a soak that is not whole ms from 0 to 3600000, naming EDGE_CANARY_SOAK_MS', () => {
    for (const soakMs of [-1, 3_600_001, 1.5, '10' as unknown as number]) {
      expect(() => checkCanarySettings({ fraction: 0.1, soakMs })).toThrow(`EDGE_CANARY_SOAK_MS: must be a whole number of milliseconds from 0 to 3600000 (got ${JSON.stringify(soakMs)})`);
    }
  });

  it('refuses an ACK timeout that is not whole ms, naming canary.ackTimeoutMs', () => {
    for (const ackTimeoutMs of [-1, 2.5]) {
      expect(() => checkCanarySettings({ fraction: 0.1, soakMs: 0, ackTimeoutMs })).toThrow(`canary.ackTimeoutMs: must be a whole number of milliseconds (got ${JSON.stringify(ackTimeoutMs)})`);
    }
  });

  it('names the field as the caller says', () => {
    expect(() => checkCanarySettings({ fraction: 2, soakMs: 0 }, (k) => `opt.${k}`)).toThrow(/^opt\.fraction: /);
    expect(() => checkCanarySettings({ fraction: 0, soakMs: -5 }, (k) => `opt.${k}`)).toThrow(/^opt\.soakMs: /);
  });

  it('reads the environment over the defaults; empty or blank is unset', () => {
    expect(canarySettingsFromEnv({}, DEFAULTS)).toEqual(DEFAULTS);
    expect(canarySettingsFromEnv({ EDGE_CANARY_FRACTION: '', EDGE_CANARY_SOAK_MS: '  ' }, DEFAULTS)).toEqual(DEFAULTS);
    expect(canarySettingsFromEnv({ EDGE_CANARY_FRACTION: '0', EDGE_CANARY_SOAK_MS: '250' }, DEFAULTS)).toEqual({ fraction: 0, soakMs: 250 });
    expect(canarySettingsFromEnv({ EDGE_CANARY_FRACTION: ' 0.2 ' }, DEFAULTS)).toEqual({ fraction: 0.2, soakMs: 30_000 });
  });

  it('refuses what is not a number, naming the variable and the raw value', () => {
    expect(() => canarySettingsFromEnv({ EDGE_CANARY_FRACTION: 'half' }, DEFAULTS)).toThrow('EDGE_CANARY_FRACTION: must be a number (got "half")');
    expect(() => canarySettingsFromEnv({ EDGE_CANARY_SOAK_MS: 'Infinity' }, DEFAULTS)).toThrow('EDGE_CANARY_SOAK_MS: must be a number (got "Infinity")');
    expect(() => canarySettingsFromEnv({ EDGE_CANARY_SOAK_MS: '1.5' }, DEFAULTS)).toThrow('EDGE_CANARY_SOAK_MS: must be a whole number');
  });
});

describe('how many canaries and which', () => {
  it('ceil(fraction x nodes), at least 1; none without nodes or with the canary off', () => {
    expect(canaryCount(0, 0.5)).toBe(0);
    expect(canaryCount(10, 0)).toBe(0);
    expect(canaryCount(1, 0.05)).toBe(1);
    expect(canaryCount(20, 0.05)).toBe(1);
    expect(canaryCount(21, 0.05)).toBe(2);
    expect(canaryCount(4, 0.5)).toBe(2);
    expect(canaryCount(5, 0.5)).toBe(3);
    expect(canaryCount(3, 1)).toBe(3);
    // 0.07 x 100 is 7.000000000000001 in floating point: 7 canaries, not 8.
    expect(canaryCount(100, 0.07)).toBe(7);
  });

  it('the node ids with the lowest SHA-256, whatever their order', () => {
    const ids = ['i-1', 'i-2', 'i-3', 'i-4', 'i-5', 'i-6'];
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    const lowest = [...ids].sort((a, b) => sha(a).localeCompare(sha(b)));
    expect(chooseCanaries(ids, (x) => x, 2)).toEqual(lowest.slice(0, 2));
    expect(chooseCanaries([...ids].reverse(), (x) => x, 3)).toEqual(lowest.slice(0, 3));
    expect(chooseCanaries(ids.map((id) => ({ id })), (x) => x.id, 1)).toEqual([{ id: lowest[0] }]);
    expect(chooseCanaries(ids, (x) => x, 0)).toEqual([]);
  });
});

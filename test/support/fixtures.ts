/**
 * Fixtures the control-plane, monitoring and rendering tests share: a route document, the
 * node an Envoy announces, the render settings, templates that count what they render. Each
 * takes overrides, so a test spells out only what it is about.
 */
import { PlatformSettings } from '../../lib/control-plane/runtime/context';
import { DEFAULT_TEMPLATES, NodeInfo, Template } from '../../lib/control-plane/runtime/templates';
import { Backend, RouteDocument } from '../../lib/model';

export const FIXTURE_REGION = 'us-east-1';
export const FIXTURE_DOMAIN = 'edge.example.com';

/** A plain HTTP backend. */
export const httpBackend = (address = '10.0.0.1', port = 80): Backend => ({ address, port, protocol: 'http' });

/** The route document of instance `id`: plan standard, `<id>.edge.example.com` to 10.0.0.1:80 over HTTP in us-east-1, generation 1. */
export function routeDocument(id: string, overrides: { plan?: string; generation?: number; deleted?: boolean; spec?: Partial<RouteDocument['spec']> } = {}): RouteDocument {
  return {
    instanceId: id,
    plan: overrides.plan ?? 'standard',
    generation: overrides.generation ?? 1,
    deleted: overrides.deleted ?? false,
    updatedAt: '',
    spec: { hostnames: [`${id}.${FIXTURE_DOMAIN}`], backends: [httpBackend()], regions: [FIXTURE_REGION], ...overrides.spec },
  };
}

/** A fleet proxy as the control plane sees it: `i-1` of edge-fleet-us-east-1 in us-east-1a. */
export function envoyNode(overrides: Partial<NodeInfo> = {}): NodeInfo {
  return { id: 'i-1', cluster: `edge-fleet-${FIXTURE_REGION}`, region: FIXTURE_REGION, zone: `${FIXTURE_REGION}a`, userAgentName: 'envoy', metadata: {}, ...overrides };
}

/** The settings every render reads (the platform's name, region, domain, listener ports, access log; no global rate limit service). */
export function renderSettings(overrides: Partial<PlatformSettings> = {}): PlatformSettings {
  return { platformName: 'edge', region: FIXTURE_REGION, domain: FIXTURE_DOMAIN, httpsTrafficPort: 8443, httpTrafficPort: 8080, accessLogPath: '/dev/stdout', ...overrides };
}

/** The default templates, each per-instance render recorded in `rendered` as `<template id>:<instance id>`. */
export function countingTemplates(): { rendered: string[]; templates: Template[] } {
  const rendered: string[] = [];
  const templates: Template[] = DEFAULT_TEMPLATES.map((t) => ({
    ...t,
    render: (input) => {
      if (t.perInstance) rendered.push(...input.context.routes.map((r) => `${t.id}:${r.instanceId}`));
      return t.render(input);
    },
  }));
  return { rendered, templates };
}

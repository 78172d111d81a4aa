/** `npm run demo`, run in process: it must succeed, quickly, and show what it promises. */
import { runDemo } from '../../scripts/demo';

describe('npm run demo', () => {
  it('provisions a gRPC and an HTTP service, sends traffic through xds:///, prints the fleet status and cleans up', async () => {
    const lines: string[] = [];
    const result = await runDemo({ log: (line) => lines.push(line), env: { ...process.env, EDGE_BROKER_URL: '' } });
    const output = lines.join('\n');
    expect(result.grpcReplies).toEqual(['grpc-backend-1', 'grpc-backend-1', 'grpc-backend-1', 'grpc-backend-1', 'grpc-backend-1']);
    expect(result.grpcHealth).toBe('SERVING');
    expect(result.httpClusters).toEqual([expect.stringMatching(/^svc-demo-http-/)]);
    expect(result.connectedNodes).toBeGreaterThanOrEqual(1);
    expect(result.ms).toBeLessThan(60_000);
    // Without EDGE_BROKER_URL it starts a platform of its own, and says how to use a running one.
    expect(output).toContain('starting a platform of its own on free ports (to use a running `npm start` instead: EDGE_BROKER_URL=http://127.0.0.1:8080 npm run demo)');
    expect(output).toContain('provision grpc: succeeded');
    expect(output).toContain('provision http: succeeded');
    expect(output).toMatch(/virtual host svc-demo-http-\S+: domains web-\S+\.edge\.example\.com/);
    expect(output).toContain('fleet status (GET /status)');
    expect(output).toContain('deprovision grpc: succeeded');
    expect(output).toContain('deprovision http: succeeded');
    expect(output).toContain('stopped everything');
  });
});

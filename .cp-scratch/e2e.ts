import * as grpc from '@grpc/grpc-js';
import { startLocalControlPlane } from '/work/main/lib/control-plane/runtime/local';
import { EchoClient, REGION, TABLE, TOKEN, callWho, startEchoBackend, startTable, writeRoute } from '/work/main/test/control-plane/support';
(async () => {
  const table = await startTable();
  const a = await startEchoBackend('A');
  const cp = await startLocalControlPlane({ xdsPort: 0, restPort: 0, region: REGION, tableName: TABLE, dynamodbEndpoint: table.emulators.dynamodbEndpoint, authToken: TOKEN, domain: 'edge.example.com', routesRefreshMs: 150, settleMs: 1000 });
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({ xds_servers: [{ server_uri: `127.0.0.1:${cp.xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }], node: { id: 'c', cluster: 't', locality: { region: 'us-east-1', zone: 'a' }, metadata: { auth: TOKEN } } });
  require('/work/main/node_modules/@grpc/grpc-js-xds').register();
  await writeRoute(table.doc, 'echo-1', { hostnames: ['echo.edge.example.com'], backends: [{ address: '127.0.0.1', port: a.port, protocol: 'grpc' }] });
  await new Promise(r => setTimeout(r, 1000));
  const client = new EchoClient('xds:///echo.edge.example.com', grpc.credentials.createInsecure());
  try { console.log('WHO', await callWho(client, 4000)); } catch (e) { console.log('ERR', (e as Error).message); }
  console.log(JSON.stringify((await (await fetch(`http://127.0.0.1:${cp.restPort}/status`)).json()).nodes));
  client.close(); await cp.stop(); await a.stop(); await table.stop();
  process.exit(0);
})();

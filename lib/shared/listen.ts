import { Server } from 'node:http';
import { AddressInfo } from 'node:net';

export interface Listening {
  /** The port the server got (the OS picks one for port 0). */
  readonly port: number;
  /** Stops accepting, drops kept-alive connections, resolves once closed. */
  stop(): Promise<void>;
}

/** Listens on `host:port` (a busy port rejects with the listen error) and returns how to stop. */
export async function listen(server: Server, port: number, host = '127.0.0.1'): Promise<Listening> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

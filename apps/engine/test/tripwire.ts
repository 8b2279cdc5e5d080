/** A TCP server on 127.0.0.1 that counts the connections it gets and drops them: how a test shows that nothing reached an address. */
import { createServer } from 'node:net';

export interface Tripwire {
  readonly port: number;
  connections(): number;
  close(): Promise<void>;
}

export async function tripwire(): Promise<Tripwire> {
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    connections: () => connections,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** TCP ports on this machine, for tests and the benchmark: a free one, and whether one answers. */
import net from 'node:net';

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/** A listening server on 127.0.0.1 at a port the kernel picks; close it with its own close(). */
export async function listenAnywhere(): Promise<net.Server> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

/** A port nothing listens on now (the kernel picks it). */
export async function freePort(): Promise<number> {
  const server = await listenAnywhere();
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

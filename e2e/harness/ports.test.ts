// Ports for the components tests start are drawn below the kernel's ephemeral range, where no
// outgoing connection takes them between the draw and the component's bind.
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { freePorts } from './ports.ts';

const ephemeralStart = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);

describe('freePorts', () => {
  it('hands out distinct ports below the ephemeral range that a component can bind', async () => {
    const ports = await freePorts(8);
    expect(new Set(ports).size).toBe(8);
    for (const port of ports) {
      if (ephemeralStart > 21_000) expect(port).toBeLessThan(ephemeralStart);
      expect(port).toBeGreaterThanOrEqual(ephemeralStart > 21_000 ? 20_000 : 1);
      const server = createServer();
      await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen({ host: '127.0.0.1', port, exclusive: true }, resolve); });
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

});

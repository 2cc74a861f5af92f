import { isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Options as MdnsOptions } from 'multicast-dns';

/**
 * Where the registry's multicast socket lives.
 *
 * LOOPBACK BY DEFAULT. What we measured on Linux (kernel 6.x, node 20, multicast-dns 7.2.5), with `lo` showing
 * `<LOOPBACK,UP,LOWER_UP>` — no MULTICAST flag — and no route for 224.0.0.0/4 on it:
 *  - `{interface: '127.0.0.1', bind: '0.0.0.0'}` works between processes: the membership is taken on lo and
 *    IP_MULTICAST_IF sends out of lo despite the missing flag. Each socket (the sender too) gets one copy.
 *  - `{interface: '127.0.0.1'}` alone does NOT: multicast-dns then binds to 127.0.0.1, and a socket bound to a unicast
 *    address never receives datagrams addressed to 224.0.0.251. Hence bind 0.0.0.0.
 *  - `loopback: false` still works on lo (the device itself loops the packet back, IP_MULTICAST_LOOP only adds the
 *    extra local copy on real NICs), so we keep the default `true`: in LAN mode it is what lets two processes of the
 *    same host see each other.
 *  - `reuseAddr: false` breaks the second process (EADDRINUSE); the default `true` is required.
 *  - multicast `ttl` makes no difference on lo; we keep RFC 6762's 255.
 *  - With no interface at all, multicast-dns sends out of the default NIC: the packets reach the LAN. Never the default.
 *  - A socket bound to 0.0.0.0 also receives the group's traffic from other interfaces (Linux IP_MULTICAST_ALL is on
 *    and node cannot turn it off), e.g. a LAN-mode process on the same host. So loopback mode also drops every packet
 *    whose source is not 127.0.0.0/8: LAN announcements must not leak into a loopback-only registry.
 */

export interface SocketPlan {
  options: MdnsOptions;
  /** True when only loopback traffic is sent and accepted. */
  loopback: boolean;
  /** The interface address used, for logs. */
  address: string;
}

/** `interface` may be an IPv4 address or an interface name ("eth0", "lo"); names resolve to their first IPv4. */
export function resolveInterface(name: string): string {
  if (isIPv4(name)) return name;
  const addrs = networkInterfaces()[name];
  const v4 = addrs?.find((a) => a.family === 'IPv4');
  if (!v4) {
    const known = Object.keys(networkInterfaces()).join(', ');
    throw new Error(`mdns: interface "${name}" has no IPv4 address (interfaces: ${known})`);
  }
  return v4.address;
}

export function planSocket(opts: { interface?: string; bind?: string; port?: number }): SocketPlan {
  const address = opts.interface === undefined ? '127.0.0.1' : resolveInterface(opts.interface);
  return {
    options: {
      interface: address,
      bind: opts.bind ?? '0.0.0.0',
      port: opts.port ?? 5353,
      reuseAddr: true,
      loopback: true,
      ttl: 255,
    },
    loopback: address.startsWith('127.'),
    address,
  };
}

/** The source filter of loopback mode (see above). */
export function isLoopbackSource(address: string): boolean {
  return address.startsWith('127.');
}

'use strict';
/**
 * Moleculer broker options for the bench: TCP transporter, kept on loopback. Moleculer's TCP transporter discovers
 * peers over UDP multicast by default, advertises os.hostname() and binds its TCP server to every interface; here UDP
 * discovery is off (the client gets the server from a static `urls` list), the advertised host is 127.0.0.1 and the
 * TCP server is bound to 127.0.0.1. Everything else (JSON serializer, balancer, ...) stays at Moleculer's defaults.
 */
const net = require('node:net');
const { ServiceBroker, Transporters } = require('moleculer');

/** Moleculer 0.14 has no bind-host option: its TCP reader calls server.listen({ port, exclusive }) synchronously from
 * startTcpServer(), so add the loopback host to that one call. */
class LoopbackTcpTransporter extends Transporters.TCP {
  startTcpServer() {
    const original = net.Server.prototype.listen;
    net.Server.prototype.listen = function (options, ...rest) {
      net.Server.prototype.listen = original;
      return original.call(this, { ...options, host: '127.0.0.1' }, ...rest);
    };
    try {
      return super.startTcpServer();
    } finally {
      net.Server.prototype.listen = original;
    }
  }
}

function createBroker(nodeID, transporterOptions) {
  const broker = new ServiceBroker({
    namespace: 'phobos-bench',
    nodeID,
    logger: false,
    metrics: false,
    tracing: false,
    transporter: new LoopbackTcpTransporter({ udpDiscovery: false, useHostname: true, ...transporterOptions }),
  });
  const local = broker.registry.nodes.localNode;
  local.hostname = '127.0.0.1';
  local.ipList = ['127.0.0.1'];
  return broker;
}

module.exports = { createBroker };

import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import * as protobuf from 'protobufjs';

/**
 * Loading .proto files and reading their `service` definitions: which Phobos service and endpoint each rpc is, and
 * its request and response message types. Shared by the protobuf codec and the gRPC face, so both read a .proto the
 * same way.
 *
 * The naming rule: a proto service is the Phobos service named in the explicit `services` map (Phobos name -> proto
 * full name, e.g. `{ greeter: 'helloworld.Greeter' }`); a proto service the map does not name is the Phobos service
 * called by its simple name lowercased (`helloworld.Greeter` -> `greeter`). An rpc is the endpoint of the same name,
 * compared case-insensitively (`SayHello` <-> `sayHello`).
 */

export interface ProtoSource {
  /** .proto file paths, or a protobufjs Root already loaded. */
  protos: string | string[] | protobuf.Root;
  /** Directories searched for imports (after the importing file's own directory), and for relative proto paths. */
  includeDirs?: string[];
  /** Keep field names as the .proto writes them (snake_case) instead of protobufjs' camelCase (default false). */
  keepCase?: boolean;
}

/** One rpc of a proto service, as a Phobos endpoint. */
export interface RpcShape {
  /** The proto service's full name, without the leading dot: `helloworld.Greeter`. */
  protoService: string;
  /** The rpc's name as the .proto writes it: `SayHello`. */
  method: string;
  /** The gRPC path: `/helloworld.Greeter/SayHello`. */
  path: string;
  request: protobuf.Type;
  response: protobuf.Type;
  requestStream: boolean;
  responseStream: boolean;
}

/** Loads and resolves `source`; a missing file or an unresolvable type throws an Error naming it. */
export function loadRoot(source: ProtoSource): protobuf.Root {
  if (source.protos instanceof protobuf.Root) {
    source.protos.resolveAll();
    return source.protos;
  }
  const files = (Array.isArray(source.protos) ? source.protos : [source.protos]).filter((f) => f.length > 0);
  if (files.length === 0) throw new Error('no .proto files given');
  const includeDirs = (source.includeDirs ?? []).map((d) => resolve(d));
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    if (isAbsolute(target)) return target;
    const candidates = [origin ? resolve(dirname(origin), target) : resolve(target), ...includeDirs.map((d) => resolve(d, target))];
    return candidates.find((c) => existsSync(c)) ?? candidates[0];
  };
  for (const f of files) {
    const path = root.resolvePath('', f);
    if (!path || !existsSync(path)) throw new Error(`cannot find ${f} (looked in ${['.', ...includeDirs].join(', ')})`);
  }
  // loadSync resolves every type itself: an unknown type name throws here, at startup.
  return root.loadSync(files, { keepCase: source.keepCase ?? false });
}

/** Every service definition in `root`, depth first. */
export function protoServices(root: protobuf.Namespace): protobuf.Service[] {
  const out: protobuf.Service[] = [];
  for (const nested of root.nestedArray) {
    if (nested instanceof protobuf.Service) out.push(nested);
    if (nested instanceof protobuf.Namespace) out.push(...protoServices(nested));
  }
  return out;
}

/** A proto full name without its leading dot. */
export function fullName(o: protobuf.ReflectionObject): string {
  return o.fullName.replace(/^\./, '');
}

/**
 * The Phobos service name of each proto service in `root`, by the rule above. Throws when the map names a proto
 * service `root` does not have, or when two unmapped proto services would get the same name.
 */
export function phobosServices(root: protobuf.Root, explicit: Record<string, string> = {}): Map<string, protobuf.Service> {
  const all = protoServices(root);
  const byFullName = new Map(all.map((s) => [fullName(s), s]));
  const out = new Map<string, protobuf.Service>();
  const mapped = new Set<protobuf.Service>();
  for (const [name, protoName] of Object.entries(explicit)) {
    const s = byFullName.get(protoName.replace(/^\./, ''));
    if (!s) throw new Error(`services maps "${name}" to ${protoName}, which is not in the .proto (services: ${[...byFullName.keys()].join(', ') || 'none'})`);
    out.set(name, s);
    mapped.add(s);
  }
  for (const s of all) {
    if (mapped.has(s)) continue;
    const name = s.name.toLowerCase();
    const taken = out.get(name);
    if (taken) {
      throw new Error(`${fullName(s)} and ${fullName(taken)} would both be the Phobos service "${name}": name one of them in the services map`);
    }
    out.set(name, s);
  }
  return out;
}

/** The rpcs of a proto service, keyed by lowercased method name. */
export function rpcsOf(service: protobuf.Service): Map<string, RpcShape> {
  const out = new Map<string, RpcShape>();
  const protoService = fullName(service);
  for (const m of service.methodsArray) {
    m.resolve();
    out.set(m.name.toLowerCase(), {
      protoService,
      method: m.name,
      path: `/${protoService}/${m.name}`,
      request: m.resolvedRequestType!,
      response: m.resolvedResponseType!,
      requestStream: m.requestStream === true,
      responseStream: m.responseStream === true,
    });
  }
  return out;
}

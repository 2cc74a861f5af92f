import type * as protobuf from 'protobufjs';
import { CODEC_IDS, type Codec, type MessageRole } from '../../lib/codec/codec';
import { RpcError } from '../../lib/errors';
import { fullName, loadRoot, phobosServices, rpcsOf, type ProtoSource, type RpcShape } from './schema';

/**
 * The protobuf codec (`--codec=protobuf`, wire id 3, content type application/protobuf). Protobuf bytes do not say
 * what message they hold, so the codec is typed: it picks the message type from the Phobos service and endpoint
 * (the rpc's request or response type, by the naming rule in schema.ts) or, for events, from the `topics` map.
 *
 * Values in are plain objects converted as protobufjs' `Type.fromObject` does (enum names or numbers, longs as
 * numbers or decimal strings, bytes as Uint8Array or base64); unknown fields are dropped. Values out are plain
 * objects from `Type.toObject` with every field present (proto3 defaults: '' and 0, [] for repeated, {} for maps,
 * null for an absent message), enums as their names and 64-bit integers as decimal strings unless `enums`/`longs`
 * say 'number'. A service, endpoint or topic the .proto does not describe is an RpcError naming it (400 for what a
 * caller sends, 500 for a reply).
 */

export interface ProtobufCodecOptions extends ProtoSource {
  /** Phobos service name -> proto service full name, for services not named by the default rule. */
  services?: Record<string, string>;
  /** Event topic -> message type full name: `{ 'user.created': 'users.UserCreated' }`. */
  topics?: Record<string, string>;
  /** 64-bit integers decode as decimal strings (default, lossless) or as numbers (lossy past 2^53). */
  longs?: 'string' | 'number';
  /** Enums decode as their names (default) or as numbers. */
  enums?: 'string' | 'number';
}

export const PROTOBUF_ERROR_ID = 'phobos.protobuf';

export class ProtobufCodec implements Codec {
  readonly name = 'protobuf';
  readonly id = CODEC_IDS.protobuf;
  readonly contentType = 'application/protobuf';
  readonly typed = true;
  /** Phobos service -> endpoint -> rpc. Endpoints are stored lowercased. */
  private readonly services = new Map<string, Map<string, RpcShape>>();
  private readonly topics = new Map<string, protobuf.Type>();
  private readonly conversion: protobuf.IConversionOptions;

  constructor(options: ProtobufCodecOptions) {
    this.conversion = {
      longs: options.longs === 'number' ? Number : String,
      enums: options.enums === 'number' ? undefined : String,
      defaults: true,
      arrays: true,
      objects: true,
    };
    this.include(loadRoot(options), options.services, options.topics);
  }

  /**
   * Adds the services (and topics) of another root. The gRPC face uses this to teach a service's codec its .proto.
   * An endpoint or topic already mapped to a different message type throws.
   */
  include(root: protobuf.Root, services?: Record<string, string>, topics: Record<string, string> = {}): void {
    for (const [name, service] of phobosServices(root, services)) {
      let endpoints = this.services.get(name);
      if (!endpoints) this.services.set(name, (endpoints = new Map()));
      for (const [key, rpc] of rpcsOf(service)) {
        const had = endpoints.get(key);
        if (had && (fullName(had.request) !== fullName(rpc.request) || fullName(had.response) !== fullName(rpc.response))) {
          throw new Error(`${name}.${rpc.method} is already ${had.path}, with other message types than ${rpc.path}`);
        }
        endpoints.set(key, rpc);
      }
    }
    for (const [topic, typeName] of Object.entries(topics)) {
      let type: protobuf.Type;
      try {
        type = root.lookupType(typeName);
      } catch {
        throw new Error(`topics maps "${topic}" to ${typeName}, which is not a message type in the .proto`);
      }
      const had = this.topics.get(topic);
      if (had && fullName(had) !== fullName(type)) throw new Error(`topic "${topic}" is already ${fullName(had)}, not ${typeName}`);
      this.topics.set(topic, type);
    }
  }

  /** The rpc behind a Phobos service and endpoint (endpoint compared case-insensitively), if the .proto has one. */
  rpc(service: string, endpoint: string): RpcShape | undefined {
    const endpoints = this.services.get(service);
    if (!endpoints) return undefined;
    // Not remembered per spelling: spellings come from callers, and a table of them would grow with what they send.
    return endpoints.get(endpoint) ?? endpoints.get(endpoint.toLowerCase());
  }

  /** The Phobos service names this codec knows, for messages and docs. */
  serviceNames(): string[] {
    return [...this.services.keys()];
  }

  encode(value: unknown, service?: string, endpoint?: string, role: MessageRole = 'request'): Uint8Array {
    const type = this.typeFor(service, endpoint, role);
    if (value !== undefined && value !== null && (typeof value !== 'object' || Array.isArray(value))) {
      const got = Array.isArray(value) ? 'an array' : typeof value;
      throw new RpcError(PROTOBUF_ERROR_ID, role === 'response' ? 500 : 400, `${fullName(type)} must be encoded from an object, got ${got}`);
    }
    return type.encode(type.fromObject((value ?? {}) as Record<string, unknown>)).finish();
  }

  decode(bytes: Uint8Array, service?: string, endpoint?: string, role: MessageRole = 'request'): unknown {
    const type = this.typeFor(service, endpoint, role);
    return type.toObject(type.decode(bytes), this.conversion);
  }

  private typeFor(service: string | undefined, endpoint: string | undefined, role: MessageRole): protobuf.Type {
    const code = role === 'response' ? 500 : 400;
    if (role === 'event') {
      const type = endpoint === undefined ? undefined : this.topics.get(endpoint);
      if (!type) throw new RpcError(PROTOBUF_ERROR_ID, code, `protobuf: no message type for topic "${endpoint}" (map it in the codec's topics option)`);
      return type;
    }
    if (service === undefined || endpoint === undefined) {
      throw new RpcError(PROTOBUF_ERROR_ID, code, 'protobuf: the codec needs the service and endpoint to pick a message type');
    }
    const rpc = this.rpc(service, endpoint);
    if (!rpc) {
      const what = this.services.has(service) ? `no rpc for endpoint ${service}.${endpoint}` : `no proto service for the Phobos service "${service}"`;
      throw new RpcError(PROTOBUF_ERROR_ID, code, `protobuf: ${what} (known services: ${this.serviceNames().join(', ') || 'none'})`);
    }
    return role === 'response' ? rpc.response : rpc.request;
  }
}

import { ConfigError } from '../../lib/flags';
import { ProtobufCodec, type ProtobufCodecOptions } from './codec';

/**
 * `--codec=protobuf`: the protobuf codec built from .proto files. The files come from `PHOBOS_PROTO_PATH`
 * (comma-separated; `PHOBOS_PROTO_INCLUDE` adds import directories), else from the plugin options in code,
 * `createService({ plugins: { protobuf: { protos: ['greeter.proto'], services, topics } } })` — env over code, as
 * for every Phobos setting. A process that keeps msgpack as its default can still serve and make protobuf calls:
 * `service.codecs.add(new ProtobufCodec({ protos }))`, then `client.call(..., { codec: 'protobuf' })`.
 */
export { ProtobufCodec, PROTOBUF_ERROR_ID, type ProtobufCodecOptions } from './codec';
export { loadRoot, phobosServices, rpcsOf, type ProtoSource, type RpcShape } from './schema';

/** What the catalog passes (lib/plugins.ts PluginContext), typed structurally: plugins never import the catalog. */
interface Context {
  options?: Record<string, unknown>;
}

export function codecPlugin(ctx: Context, env: NodeJS.ProcessEnv = process.env): ProtobufCodec {
  const options = (ctx.options ?? {}) as Partial<ProtobufCodecOptions>;
  const list = (v: string | undefined) => v?.split(',').map((s) => s.trim()).filter(Boolean) ?? [];
  const fromEnv = list(env.PHOBOS_PROTO_PATH);
  const protos = fromEnv.length ? fromEnv : options.protos;
  if (!protos || (Array.isArray(protos) && protos.length === 0)) {
    throw new ConfigError('codec "protobuf" needs .proto files: set PHOBOS_PROTO_PATH=a.proto,b.proto or createService({ plugins: { protobuf: { protos: [...] } } })');
  }
  const includeDirs = [...list(env.PHOBOS_PROTO_INCLUDE), ...(options.includeDirs ?? [])];
  try {
    return new ProtobufCodec({ ...options, protos, includeDirs });
  } catch (err) {
    throw new ConfigError(`codec "protobuf": ${(err as Error).message}`);
  }
}

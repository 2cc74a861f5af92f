import { JsonCodec, MsgpackCodec } from '../codec';
import { CODEC_IDS } from '../codec/codec';
import { RpcError } from '../errors';
import { type Message, responseTo, TRANSPORT_ERROR_ID } from './transport';

/** Error replies a transport sends by itself, shared by every transport implementation. */

let json: JsonCodec | undefined;
let msgpack: MsgpackCodec | undefined;

/**
 * An error response the transport itself sends (a refused body, a server shutting down), encoded as an ErrorRecord
 * with the request's codec when it is msgpack or json, and as json otherwise, so any client can decode it.
 */
export function errorResponse(request: Message, code: number, detail: string): Message {
  const record = new RpcError(TRANSPORT_ERROR_ID, code, detail).toJSON();
  if (request.codec === CODEC_IDS.msgpack) {
    msgpack ??= new MsgpackCodec();
    return responseTo(request, msgpack.encode(record), true, CODEC_IDS.msgpack);
  }
  json ??= new JsonCodec();
  return responseTo(request, json.encode(record), true, CODEC_IDS.json);
}

'use strict';
/**
 * The raw contender's wire: [u32 LE length of what follows][u32 LE request id][msgpack body]. One Buffer per frame;
 * frames written in the same tick leave in one writev (cork until the next tick); the reader parses with an offset
 * and only concatenates when a frame spans chunks.
 */
const { Packr } = require('msgpackr');

const packr = new Packr({ useRecords: false });

function encodeFrame(id, value) {
  const body = packr.pack(value);
  const frame = Buffer.allocUnsafe(8 + body.length);
  frame.writeUInt32LE(4 + body.length, 0);
  frame.writeUInt32LE(id, 4);
  body.copy(frame, 8);
  return frame;
}

function writer(socket) {
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  return (id, value) => {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    socket.write(encodeFrame(id, value));
  };
}

/** Returns a 'data' listener that calls onFrame(id, value) for every complete frame. */
function reader(onFrame) {
  let parts = [];
  let have = 0;
  let need = 8;
  return (chunk) => {
    parts.push(chunk);
    have += chunk.length;
    if (have < need) return;
    const buf = parts.length === 1 ? parts[0] : Buffer.concat(parts, have);
    let off = 0;
    for (;;) {
      const left = buf.length - off;
      if (left < 8) {
        need = 8;
        break;
      }
      const size = 4 + buf.readUInt32LE(off);
      if (left < size) {
        need = size;
        break;
      }
      onFrame(buf.readUInt32LE(off + 4), packr.unpack(buf.subarray(off + 8, off + size)));
      off += size;
    }
    have = buf.length - off;
    parts = have ? [buf.subarray(off)] : [];
  };
}

module.exports = { writer, reader };

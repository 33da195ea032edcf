'use strict'
// Arguments to and from BSON, with the `bson` npm package, and the records the addon hands
// over (see src/inbox.rs for their layout).
//
// The argument list travels as one BSON document whose keys are "0", "1", …, exactly as
// the Rust library and the CLI write it, so every BSON type crosses between Node, Rust and
// the CLI unchanged.

const BSON = require('bson')

const EMPTY = Buffer.from([5, 0, 0, 0, 0])
const UNDEFINED = 0x06
const SERIALIZE = { checkKeys: false, ignoreUndefined: false, serializeFunctions: false }

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

/**
 * The first BigInt in `value` outside the 64-bit range, or null. (The `bson` package
 * would wrap such a value silently; we refuse it.) Walks what the encoder walks.
 */
function outOfRangeBigInt(value, depth = 0, seen = new WeakSet()) {
  if (typeof value === 'bigint') return value < INT64_MIN || value > INT64_MAX ? value : null
  if (value === null || typeof value !== 'object' || depth > 100 || seen.has(value)) return null
  if (ArrayBuffer.isView(value) || value instanceof Date || value instanceof RegExp || value._bsontype) return null
  seen.add(value) // a cycle is left for the encoder to report; shared parts are walked once
  const values = Array.isArray(value) ? value : value instanceof Map ? value.values() : Object.values(value)
  for (const v of values) {
    if (typeof v === 'object' || typeof v === 'bigint') {
      const bad = outOfRangeBigInt(v, depth + 1, seen)
      if (bad !== null) return bad
    }
  }
  return null
}

/** Arguments of one event, at most (a listener is called with them spread). */
const MAX_ARGS = 4096

/** The BSON document of an argument list (an array). */
function encodeArgs(args) {
  const n = args.length
  if (n === 0) return EMPTY
  if (n > MAX_ARGS) throw new RangeError(`${n} arguments; an event has at most ${MAX_ARGS} (send an array as one argument)`)
  const bad = outOfRangeBigInt(args)
  if (bad !== null) throw new RangeError(`the BigInt ${bad} is outside the 64-bit range of BSON integers (-2^63 to 2^63-1)`)
  const doc = {}
  let undef = false
  for (let i = 0; i < n; i++) {
    const a = args[i]
    if (a === undefined) undef = true
    doc[i] = a
  }
  if (!undef) return BSON.serialize(doc, SERIALIZE)
  // A top-level `undefined` stays `undefined` (BSON's undefined type); the `bson` package
  // would write null. Each argument is encoded alone and the elements joined.
  const parts = []
  let size = 5
  for (let i = 0; i < n; i++) {
    const key = String(i)
    let part
    if (args[i] === undefined) {
      part = Buffer.concat([Buffer.from([UNDEFINED]), Buffer.from(key, 'latin1'), Buffer.from([0])])
    } else {
      const one = BSON.serialize({ [key]: args[i] }, SERIALIZE)
      part = one.subarray(4, one.length - 1)
    }
    parts.push(part)
    size += part.length
  }
  const out = Buffer.allocUnsafe(size)
  out.writeInt32LE(size, 0)
  let at = 4
  for (const p of parts) at += p.copy(out, at)
  out[at] = 0
  return out
}

/** Options of `BSON.deserialize` for a choice of how 64-bit integers arrive. */
function deserializeOptions(longs) {
  const base = {
    promoteBuffers: true,
    promoteValues: true,
    bsonRegExp: false,
    validation: { utf8: true },
    allowObjectSmallerThanBufferSize: true,
    index: 0,
  }
  switch (longs) {
    case 'bigint':
      return { ...base, useBigInt64: true }
    case 'long':
      return { ...base, promoteLongs: false }
    case 'number':
      return { ...base, promoteLongs: true }
    default:
      throw new TypeError(`longs must be 'bigint', 'long' or 'number', not ${JSON.stringify(longs)}`)
  }
}

/**
 * The argument list of the BSON document at buf[start..end] (its values, in key order).
 * A Buffer argument is a view of what it was decoded from, and must not keep a whole batch
 * of events alive: a document that may hold binary (a 0x05 byte anywhere) is copied out
 * of the batch first; the others are decoded in place (`options` is reused: its `index`
 * says where the document starts).
 */
function decodeArgs(buf, start, end, options) {
  if (end - start === 5) return []
  let doc = buf
  options.index = start
  for (let i = start + 4; i < end; i++) {
    if (buf[i] === 5) {
      doc = Buffer.allocUnsafe(end - start)
      buf.copy(doc, 0, start, end)
      options.index = 0
      break
    }
  }
  const args = Object.values(BSON.deserialize(doc, options))
  if (args.length > MAX_ARGS) throw new RangeError(`${args.length} arguments; an event has at most ${MAX_ARGS}`)
  return args
}

const KIND_EVENT = 0
const KIND_LOSS = 1

/**
 * Walks the records of one batch from offset `at`, calling `onEvent(name, buf, argsStart,
 * argsEnd, body, fromStart, fromLen)` and `onLoss(loss)`, until the batch ends or
 * `performance.now()` passes `deadline` (looked at every 32 records); returns where it
 * stopped. `eventMeta(…)` gives sender, source and sequence number when asked.
 */
function readRecords(buf, at, onEvent, onLoss, deadline) {
  const len = buf.length
  let n = 0
  while (at + 5 <= len) {
    if ((++n & 31) === 0 && performance.now() > deadline) return at
    const size = buf.readUInt32LE(at)
    const body = at + 4
    const end = body + size
    if (end > len) return len
    const kind = buf[body]
    if (kind === KIND_EVENT) {
      const nameLen = buf.readUInt16LE(body + 17)
      const fromLen = buf[body + 19]
      const nameStart = body + 20
      const fromStart = nameStart + nameLen
      const argsStart = fromStart + fromLen
      const name = buf.toString('utf8', nameStart, fromStart)
      at = end
      onEvent(name, buf, argsStart, end, body, fromStart, fromLen)
    } else {
      at = end
      if (kind === KIND_LOSS) {
        const sender = hex64(buf, body + 1)
        const first = buf.readBigUInt64LE(body + 9)
        const last = buf.readBigUInt64LE(body + 17)
        onLoss({ sender, first, last, count: last - first + 1n })
      }
    }
  }
  return len
}

/** The metadata of the event record at `body` (see readRecords). */
function eventMeta(buf, body, fromStart, fromLen, name) {
  return {
    name,
    sender: hex64(buf, body + 1),
    seq: buf.readBigUInt64LE(body + 9),
    from: fromLen ? buf.toString('latin1', fromStart, fromStart + fromLen) : null,
  }
}

function hex64(buf, at) {
  return buf.readBigUInt64LE(at).toString(16).padStart(16, '0')
}

module.exports = { encodeArgs, decodeArgs, deserializeOptions, readRecords, eventMeta, EMPTY, MAX_ARGS }

'use strict'
// The constructor's options: the original's names (multicastMembership, messageTtl in ms,
// encrypt: { key }, …) and this package's own, checked here so that a bad one fails at
// once with its name, its value and what is allowed; then renamed for the addon.

const { codedError } = require('./errors')

const isInt = (v, min, max) => Number.isInteger(v) && v >= min && v <= max
const describe = (v) => (typeof v === 'string' ? JSON.stringify(v) : typeof v === 'bigint' ? `${v}n` : String(v))

function bad(name, value, allowed, described = describe(value)) {
  return codedError('EC_INVALID_OPTION', `invalid option ${name}: ${described} (${allowed})`, TypeError)
}

const port = (name, min = 1) => (v) => {
  if (!isInt(v, min, 65535)) throw bad(name, v, `a port number from ${min} to 65535${min === 0 ? ' (0: a free one)' : ''}`)
  return v
}
const str = (name, allowed = 'a string') => (v) => {
  if (typeof v !== 'string' || v === '') throw bad(name, v, allowed)
  return v
}
const bool = (name) => (v) => {
  if (typeof v !== 'boolean') throw bad(name, v, 'true or false')
  return v
}
const int = (name, min, max, unit) => (v) => {
  if (!isInt(v, min, max)) throw bad(name, v, `an integer from ${min} to ${max}${unit ? ' ' + unit : ''}`)
  return v
}
const oneOf = (name, values) => (v) => {
  if (!values.includes(v)) throw bad(name, v, `one of ${values.map((x) => `'${x}'`).join(', ')}`)
  return v
}

function keyHex(v) {
  if (typeof v === 'string' && /^([0-9a-fA-F]{32}|[0-9a-fA-F]{64})$/.test(v)) return v.toLowerCase()
  if (v instanceof Uint8Array && (v.length === 16 || v.length === 32)) return Buffer.from(v).toString('hex')
  const described = v instanceof Uint8Array ? `<${v.length} bytes>` : describe(v)
  throw bad('key', v, 'a Buffer or Uint8Array of 16 or 32 bytes, or their hex', described)
}

/** Each option: how to check it and where it goes (in the addon's options, or JS-only). */
const OPTIONS = {
  // the original's
  address: (o, v) => (o.native.address = str('address', 'an IP address to bind')(v)),
  port: (o, v) => (o.native.port = port('port')(v)),
  multicastMembership: (o, v) => (o.native.group = str('multicastMembership', 'a multicast group address')(v)),
  multicastInterface: (o, v) => {
    if (v !== null) o.native.interface = str('multicastInterface', 'an interface name or address')(v)
  },
  multicastLoopback: (o, v) => (o.native.loopback = bool('multicastLoopback')(v)),
  multicastTtl: (o, v) => (o.native.ttl = int('multicastTtl', 0, 255)(v)),
  replPort: (o, v) => {
    if (v === null) return
    o.js.repl = true
    o.js.replPort = port('replPort', 0)(v)
  },
  replHost: (o, v) => {
    o.js.repl = true
    o.js.replHost = str('replHost', 'a host name or address')(v)
  },
  encrypt: (o, v) => {
    if (v === false || v === null) return
    if (typeof v !== 'object' || typeof v.key !== 'string' || v.key === '') {
      const described = v && typeof v === 'object' ? `{ key: ${describe(v.key)} }` : describe(v)
      throw bad('encrypt', v, "false, or { key: 'a passphrase' }", described)
    }
    o.native.passphrase = v.key
  },
  maxPayloadSize: (o, v) => (o.native.maxPayloadSize = int('maxPayloadSize', 64, 65507, 'bytes')(v)),
  messageTtl: (o, v) => (o.native.messageTtlMs = int('messageTtl', 1, 86_400_000, 'milliseconds')(v)),
  log: (o, v) => (o.native.log = bool('log')(v)),
  logLevel: (o, v) =>
    (o.native.logLevel = oneOf('logLevel', ['trace', 'debug', 'info', 'warn', 'error', 'fatal'])(
      typeof v === 'string' ? v.toLowerCase() : v,
    )),
  // this package's own
  group: (o, v) => (o.native.group = str('group', 'a multicast group address')(v)),
  interface: (o, v) => (o.native.interface = str('interface', 'an interface name or address')(v)),
  delivery: (o, v) => (o.native.delivery = oneOf('delivery', ['reliable', 'unordered', 'best-effort'])(v)),
  startAt: (o, v) => (o.native.startAt = oneOf('startAt', ['live', 'oldest'])(v)),
  maxEventSize: (o, v) => (o.native.maxEventSize = int('maxEventSize', 1, 2 ** 32, 'bytes')(v)),
  paceRate: (o, v) => (o.native.paceRate = int('paceRate', 1, Number.MAX_SAFE_INTEGER, 'bytes per second')(v)),
  retransmitEvents: (o, v) => (o.native.retransmitEvents = int('retransmitEvents', 1, 2 ** 32)(v)),
  retransmitBytes: (o, v) => (o.native.retransmitBytes = int('retransmitBytes', 1, 2 ** 40, 'bytes')(v)),
  recvBufferSize: (o, v) => (o.native.recvBufferSize = int('recvBufferSize', 1, 2 ** 31, 'bytes')(v)),
  passphrase: (o, v) => (o.native.passphrase = str('passphrase', 'a non-empty string')(v)),
  key: (o, v) => (o.native.keyHex = keyHex(v)),
  keyId: (o, v) => (o.native.keyId = int('keyId', 0, 255)(v)),
  peers: (o, v) => {
    if (!Array.isArray(v) || !v.every((p) => typeof p === 'string' && p !== '')) {
      throw bad('peers', Array.isArray(v) ? JSON.stringify(v) : v, "an array of 'HOST:PORT' strings")
    }
    o.native.peers = v
  },
  multicast: (o, v) => (o.native.multicast = bool('multicast')(v)),
  nats: (o, v) => {
    if (typeof v === 'string' && v !== '') return (o.native.nats = v)
    if (!v || typeof v !== 'object') throw bad('nats', v, "a server URL, or { url, subject, token, user, password, creds, nkey, tlsCa }")
    const allowed = ['url', 'subject', 'token', 'user', 'password', 'creds', 'nkey', 'tlsCa']
    for (const k of Object.keys(v)) {
      if (!allowed.includes(k)) throw bad(`nats.${k}`, v[k], `unknown; nats takes ${allowed.join(', ')}`)
    }
    const url = Array.isArray(v.url) ? v.url.join(',') : v.url
    o.native.nats = str('nats.url', 'a server URL, or several separated by commas')(url)
    const map = { subject: 'natsSubject', token: 'natsToken', user: 'natsUser', password: 'natsPassword', creds: 'natsCreds', nkey: 'natsNkey', tlsCa: 'natsTlsCa' }
    for (const [k, to] of Object.entries(map)) if (v[k] !== undefined) o.native[to] = str(`nats.${k}`)(v[k])
  },
  console: (o, v) => {
    if (typeof v === 'boolean') return (o.native.console = v)
    if (!v || typeof v !== 'object') throw bad('console', v, 'true, or { port, host, token }')
    o.native.console = true
    if (v.port !== undefined) o.native.consolePort = port('console.port', 0)(v.port)
    if (v.host !== undefined) o.native.consoleHost = str('console.host')(v.host)
    if (v.token !== undefined) o.native.consoleToken = str('console.token')(v.token)
  },
  repl: (o, v) => (o.js.repl = bool('repl')(v)),
  longs: (o, v) => (o.js.longs = oneOf('longs', ['bigint', 'long', 'number'])(v)),
  maxQueuedBytes: (o, v) => (o.js.maxQueuedBytes = int('maxQueuedBytes', 0, 2 ** 40, 'bytes')(v)),
  inboxBytes: (o, v) => (o.native.inboxBytes = int('inboxBytes', 1024, 2 ** 31, 'bytes')(v)),
  streamCapacity: (o, v) => (o.native.streamCapacity = int('streamCapacity', 1, 2 ** 24, 'events')(v)),
  // the original's instance id: each start takes a fresh random sender id here, so it is
  // accepted and ignored
  id: () => {},
}

const DEFAULTS = { repl: false, replPort: 0, replHost: 'localhost', longs: 'bigint', maxQueuedBytes: 64 * 1024 * 1024 }

/**
 * Reads `Eventcast(9000)` or `Eventcast({...})`: `{ native, js, given }`, `native` for
 * the addon (JSON), `js` for what this package does itself, `given` as passed.
 */
function normalize(opts) {
  if (opts === undefined || opts === null) opts = {}
  if (typeof opts === 'number') opts = { port: opts }
  if (typeof opts !== 'object' || Array.isArray(opts)) {
    throw bad('options', opts, 'a port number or an options object')
  }
  // The original logs nothing unless asked (`log: true`).
  const o = { native: { log: false }, js: { ...DEFAULTS } }
  for (const [name, value] of Object.entries(opts)) {
    const apply = Object.hasOwn(OPTIONS, name) ? OPTIONS[name] : null
    if (!apply) {
      throw codedError(
        'EC_INVALID_OPTION',
        `unknown option ${JSON.stringify(name)}; the options are: ${Object.keys(OPTIONS).join(', ')}`,
        TypeError,
      )
    }
    if (value === undefined) continue
    apply(o, value)
  }
  o.given = { ...opts }
  return o
}

module.exports = { normalize, OPTIONS }

'use strict'
// The Eventcast object: the original's API (an EventEmitter whose `emit` first sends to the
// network), over the Rust instance in the addon.

const { EventEmitter } = require('node:events')
const { NativeEventcast, checkPattern } = require('./native')
const codec = require('./codec')
const { isPattern, matches } = require('./pattern')
const { normalize } = require('./options')
const { startRepl, stopRepl } = require('./repl')
const { codedError, fromNative, native, nativeAsync } = require('./errors')

const EE = EventEmitter.prototype
const eeEmit = EE.emit
/**
 * Names that stay on this instance: EventEmitter's own events and 'error' (a peer must not
 * reach error handlers, nor crash a process without one) are never sent nor taken from the
 * network; emit() calls their local listeners only.
 */
const LOCAL_ONLY = new Set(['newListener', 'removeListener', 'error'])
/** This package's own events: emit() refuses them, and the network cannot fake them. */
const RESERVED = new Set(['start', 'stop', 'drain', 'replConnected', 'replDisconnected'])
const isReserved = (name) => RESERVED.has(name) || name.startsWith('eventcast:')
/** How long one slice of delivery may hold the event loop before it yields (ms). */
const DELIVERY_SLICE_MS = 5
const MAX_NAME_BYTES = 1024
const NAME_CACHE_MAX = 4096

/**
 * A network event emitter. `Eventcast(9000)` or `Eventcast({ port: 9000, … })`, with or
 * without `new`. See README.md for the options and events.
 */
function Eventcast(opts) {
  if (!(this instanceof Eventcast)) return new Eventcast(opts)
  EventEmitter.call(this)
  const o = normalize(opts)
  const self = new WeakRef(this)
  // The addon holds the wake-up function: through a WeakRef it does not keep `this` alive.
  this._native = native(() => new NativeEventcast(JSON.stringify(o.native), () => self.deref()?._drain()))
  this._js = o.js
  const inForce = JSON.parse(this._native.optionsJson())
  this.config = { ...inForce, ...o.given }
  this._maxEventSize = inForce.maxEventSize
  this._bson = codec.deserializeOptions(o.js.longs)
  this._lifecycle = Promise.resolve()
  this._queue = []
  this._queueHead = 0
  this._queuedBytes = 0
  this._flushing = null
  this._warnedStopped = false
  this._patterns = null
  this._patternsByName = new Map()
  this._curBuf = null
  this._curBody = 0
  this._curFrom = 0
  this._curFromLen = 0
  this._counters = { undecodable: 0, listenerErrors: 0, refused: 0, refusedNames: 0 }
  this._warned = new Set()
  this._draining = false
  this._batch = null
  this._batchAt = 0
  this._errors = null
  this._drainWaiters = []
  this._repl = null
  this._keepAlive = null
  this._onEvent = this._onEvent.bind(this)
  this._onLoss = this._onLoss.bind(this)
  /** The event being delivered, during a listener call (as EventEmitter2 sets it). */
  this.event = undefined
  /** True while emitted events wait in this object's queue; `'drain'` follows. */
  this.needDrain = false
  /** The UDP socket's local address once started (`IP:PORT`). */
  this.address = null
  /** The REPL's address once started with `replPort`/`repl` (`{ address, port }`). */
  this.replAddress = null
  this.status = 'stopped'
}
Object.setPrototypeOf(Eventcast.prototype, EventEmitter.prototype)
Object.setPrototypeOf(Eventcast, EventEmitter)

// ---- sending --------------------------------------------------------------------------

/**
 * Sends `event` with `args` to every instance on the network, then calls this instance's
 * own listeners, as the original does; returns whether any listener was called. Never
 * blocks: when the instance cannot take more, the event waits in a bounded queue (in
 * order) and `'drain'` follows once it is empty.
 */
Eventcast.prototype.emit = function emit(event, ...args) {
  if (typeof event === 'string' && !LOCAL_ONLY.has(event)) {
    if (isReserved(event)) throw reservedError(event)
    this._send(event, args, null)
  }
  return this._emitLocal(event, args)
}

function reservedError(name) {
  return codedError('EC_INVALID_NAME', `${JSON.stringify(name)} is reserved for this package's own events (start, stop, drain, replConnected, replDisconnected, eventcast:*); pick another name`, TypeError)
}

/**
 * As `emit`, and resolves once the event was handed to the protocol (after waiting for
 * room, if any was needed); rejects when it cannot be sent. Local listeners are called
 * at once.
 */
Eventcast.prototype.emitAsync = function emitAsync(event, ...args) {
  if (typeof event !== 'string') {
    return Promise.reject(codedError('EC_INVALID_NAME', `event names sent to the network are strings, not ${typeof event}`, TypeError))
  }
  let deferred
  const p = new Promise((resolve, reject) => (deferred = { resolve, reject }))
  try {
    if (LOCAL_ONLY.has(event) || isReserved(event)) throw LOCAL_ONLY.has(event) ? codedError('EC_INVALID_NAME', `${JSON.stringify(event)} is never sent to the network`, TypeError) : reservedError(event)
    this._send(event, args, deferred)
  } catch (err) {
    deferred.reject(err)
  }
  this._emitLocal(event, args)
  return p
}

Eventcast.prototype._send = function _send(name, args, deferred) {
  if (this.status === 'stopped' || this.status === 'stopping') {
    const err = codedError('EC_NOT_RUNNING', `emit(${JSON.stringify(name)}) while ${this.status}: not sent to the network (call start() first)`)
    if (deferred) return deferred.reject(err)
    if (!this._warnedStopped) {
      this._warnedStopped = true
      process.emitWarning(`eventcast: ${err.message}; local listeners were called`, { code: 'EC_NOT_RUNNING' })
    }
    return
  }
  const nameBytes = Buffer.byteLength(name)
  if (nameBytes === 0 || nameBytes > MAX_NAME_BYTES) {
    throw codedError('EC_INVALID_NAME', `invalid event name ${JSON.stringify(name.slice(0, 64))} (${nameBytes} bytes): names are 1 to 1024 bytes of UTF-8`, TypeError)
  }
  let doc
  try {
    doc = codec.encodeArgs(args)
  } catch (err) {
    throw codedError('EC_ENCODING', `arguments of event ${JSON.stringify(name)} cannot be encoded as BSON: ${err.message}`, TypeError)
  }
  const size = 2 + nameBytes + doc.length
  if (size > this._maxEventSize) {
    throw codedError('EC_EVENT_TOO_LARGE', `event ${JSON.stringify(name)} is ${size} bytes encoded; maxEventSize allows at most ${this._maxEventSize} bytes`, RangeError)
  }
  if (this._queue.length === this._queueHead && this.status === 'started') {
    try {
      this._native.trySend(name, doc)
      if (deferred) deferred.resolve()
      return
    } catch (err) {
      const e = fromNative(err)
      if (e.code === 'EC_NOT_RUNNING' && !this._native.isRunning()) {
        // stopped from elsewhere (the Rust console's `stop`): as emit() while stopped
        this._stoppedUnderUs()
        if (deferred) return deferred.reject(e)
        return this._asyncError(e)
      }
      if (e.code !== 'EC_BACKPRESSURE') throw e
    }
  }
  if (this._queuedBytes + doc.length > this._js.maxQueuedBytes && this._queue.length > this._queueHead) {
    this._counters.refused++
    throw codedError(
      'EC_BACKPRESSURE',
      `emit(${JSON.stringify(name)}): ${this._queuedBytes} bytes of events already wait to be sent (maxQueuedBytes ${this._js.maxQueuedBytes}); wait for 'drain' or use emitAsync()`,
    )
  }
  this._queue.push({ name, doc, deferred })
  this._queuedBytes += doc.length
  this.needDrain = true
  if (!this._flushing && this.status === 'started') this._flushing = this._flush()
}

/** Hands the queue to the protocol in order, waiting for room when there is none. */
Eventcast.prototype._flush = async function _flush() {
  // Never synchronously inside emit(): 'drain' must come after emit returned (as a
  // stream's does), so that a caller can wait for it.
  await undefined
  try {
    while (this._queueHead < this._queue.length && this.status === 'started') {
      const item = this._queue[this._queueHead]
      try {
        try {
          this._native.trySend(item.name, item.doc)
        } catch (err) {
          if (fromNative(err).code !== 'EC_BACKPRESSURE') throw err
          await nativeAsync(this._native.send(item.name, item.doc))
        }
        if (item.deferred) item.deferred.resolve()
      } catch (err) {
        const e = fromNative(err)
        if (e.code === 'EC_NOT_RUNNING') {
          // stopped from elsewhere (the Rust console's `stop`): follow it
          if (!this._native.isRunning()) this._stoppedUnderUs()
          break
        }
        if (item.deferred) item.deferred.reject(e)
        else this._asyncError(e)
      }
      this._queue[this._queueHead++] = undefined
      this._queuedBytes -= item.doc.length
      if (this._queueHead > 1024 && this._queueHead * 2 > this._queue.length) {
        this._queue = this._queue.slice(this._queueHead)
        this._queueHead = 0
      }
    }
  } finally {
    this._flushing = null
  }
  if (this._queueHead === this._queue.length) {
    this._queue = []
    this._queueHead = 0
    if (this.needDrain) {
      this.needDrain = false
      this._emitInternal('drain')
    }
  }
}

/**
 * An error no caller waits for: to `'error'` listeners if any (what they throw surfaces
 * as a listener's would), else one warning per code and instance (then only counted).
 */
Eventcast.prototype._asyncError = function _asyncError(err) {
  if (this.listenerCount('error') > 0) {
    try {
      eeEmit.call(this, 'error', err)
    } catch (thrown) {
      this._listenerError(thrown)
    }
  } else if (!this._warned.has(err.code)) {
    this._warned.add(err.code)
    process.emitWarning(`eventcast: ${err.message} (further ${err.code} warnings of this instance are only counted)`, { code: err.code })
  }
}

// ---- receiving ------------------------------------------------------------------------

/** Calls the listeners of `name` and of every pattern matching it. */
Eventcast.prototype._emitLocal = function _emitLocal(event, args) {
  let called = eeEmit.call(this, event, ...args)
  if (typeof event === 'string') {
    for (const p of this._patternsFor(event)) called = eeEmit.call(this, p, ...args) || called
  }
  return called
}

/** This package's own events ('start', 'drain', 'eventcast:loss', …): their listeners only, never patterns. */
Eventcast.prototype._emitInternal = function _emitInternal(event, ...args) {
  return eeEmit.call(this, event, ...args)
}

/** The patterns with listeners that match `name` (other than `name` itself), cached. */
Eventcast.prototype._patternsFor = function _patternsFor(name) {
  if (this._patterns === null) {
    this._patterns = this.eventNames().filter(isPattern)
    this._patternsByName.clear()
  }
  if (this._patterns.length === 0) return this._patterns
  let list = this._patternsByName.get(name)
  if (list === undefined) {
    list = this._patterns.filter((p) => p !== name && matches(p, name))
    if (this._patternsByName.size >= NAME_CACHE_MAX) this._patternsByName.clear()
    this._patternsByName.set(name, list)
  }
  return list
}

/**
 * Delivers what the addon received (called on the JavaScript thread when events wait). One
 * slice holds the event loop at most DELIVERY_SLICE_MS (plus one listener call), then
 * yields to timers and I/O with setImmediate; batches are taken one after another, so
 * order holds, and while JavaScript is behind the inbox fills and the dispatcher waits,
 * which slows the senders through flow control.
 */
Eventcast.prototype._drain = function _drain() {
  if (this._draining) return
  this._draining = true
  this._drainSlice()
}

Eventcast.prototype._drainSlice = function _drainSlice() {
  const deadline = performance.now() + DELIVERY_SLICE_MS
  try {
    for (;;) {
      if (this._batch === null) {
        const buf = this._native.take()
        if (buf === null) {
          this._draining = false
          break
        }
        this._batch = buf
        this._batchAt = 0
      }
      this._batchAt = codec.readRecords(this._batch, this._batchAt, this._onEvent, this._onLoss, deadline)
      if (this._batchAt >= this._batch.length) this._batch = null
      if (performance.now() > deadline) {
        setImmediate(() => this._drainSlice())
        break
      }
    }
  } finally {
    const errors = this._errors
    this._errors = null
    // A listener that threw did not cost the events after it; its error surfaces now, as
    // any EventEmitter listener's would (an uncaught exception unless handled).
    if (errors) for (const e of errors) process.nextTick(() => { throw e })
    if (!this._draining) for (const resolve of this._drainWaiters.splice(0)) resolve()
  }
}

/** Resolves once everything the addon holds was delivered. */
Eventcast.prototype._drained = function _drained() {
  this._drain()
  if (!this._draining) return Promise.resolve()
  return new Promise((resolve) => this._drainWaiters.push(resolve))
}

Eventcast.prototype._onEvent = function _onEvent(name, buf, argsStart, argsEnd, body, fromStart, fromLen) {
  if (LOCAL_ONLY.has(name) || isReserved(name)) {
    this._counters.refusedNames++
    return
  }
  const patterns = this._patternsFor(name)
  if (patterns.length === 0 && this.listenerCount(name) === 0) return
  let args
  try {
    args = codec.decodeArgs(buf, argsStart, argsEnd, this._bson)
  } catch (err) {
    this._counters.undecodable++
    const meta = codec.eventMeta(buf, body, fromStart, fromLen, name)
    this._asyncError(codedError('EC_UNDECODABLE', `event ${JSON.stringify(name)} from ${meta.sender} has arguments this package cannot decode: ${err.message}`))
    return
  }
  this._curBuf = buf
  this._curBody = body
  this._curFrom = fromStart
  this._curFromLen = fromLen
  this.event = name
  this._deliver(name, args)
  for (let i = 0; i < patterns.length; i++) this._deliver(patterns[i], args)
  this._curBuf = null
  this.event = undefined
}

/** Calls the listeners of `name` with `args` (no spread for the usual few arguments). */
Eventcast.prototype._deliver = function _deliver(name, args) {
  try {
    switch (args.length) {
      case 0:
        eeEmit.call(this, name)
        break
      case 1:
        eeEmit.call(this, name, args[0])
        break
      case 2:
        eeEmit.call(this, name, args[0], args[1])
        break
      case 3:
        eeEmit.call(this, name, args[0], args[1], args[2])
        break
      default:
        eeEmit.call(this, name, ...args)
    }
  } catch (err) {
    this._listenerError(err)
  }
}

Eventcast.prototype._listenerError = function _listenerError(err) {
  this._counters.listenerErrors++
  ;(this._errors ??= []).push(err)
}

Eventcast.prototype._onLoss = function _onLoss(loss) {
  try {
    this._emitInternal('eventcast:loss', loss)
  } catch (err) {
    this._listenerError(err)
  }
}

/**
 * During a listener call for a network event: `{ name, sender, seq, from }` of that event
 * (sender is the sending instance's id, hex). `null` otherwise.
 */
Eventcast.prototype.eventInfo = function eventInfo() {
  return this._curBuf ? codec.eventMeta(this._curBuf, this._curBody, this._curFrom, this._curFromLen, this.event) : null
}

// ---- listeners: patterns are checked as they are added, and the cache follows ----------

for (const method of ['on', 'addListener', 'prependListener', 'once', 'prependOnceListener']) {
  const base = EE[method]
  Eventcast.prototype[method] = function (event, listener) {
    if (isPattern(event)) native(() => checkPattern(event))
    this._patterns = null
    return base.call(this, event, listener)
  }
}
for (const method of ['off', 'removeListener', 'removeAllListeners']) {
  const base = EE[method]
  Eventcast.prototype[method] = function (...args) {
    this._patterns = null
    return base.apply(this, args)
  }
}

// ---- lifecycle ------------------------------------------------------------------------

function withCallback(promise, cb) {
  if (typeof cb !== 'function') return promise
  // The callback runs outside the promise chain: what it throws is an uncaught exception,
  // as in any Node callback; the returned promise then never rejects.
  return promise.then(
    (v) => void process.nextTick(cb, null, v),
    (e) => void process.nextTick(cb, e),
  )
}

/** Binds the socket and joins the group; `callback(err)` and the Promise follow. */
Eventcast.prototype.start = function start(callback) {
  const p = (this._lifecycle = this._lifecycle.catch(() => {}).then(() => this._start()))
  return withCallback(p, callback)
}

/** Sends what waits, then leaves the group and closes; `callback(err)` and the Promise follow. */
Eventcast.prototype.stop = function stop(callback) {
  const p = (this._lifecycle = this._lifecycle.catch(() => {}).then(() => this._stop()))
  return withCallback(p, callback)
}

Eventcast.prototype._start = async function _start() {
  if (this.status === 'started') return
  this._setStatus('starting')
  try {
    const info = JSON.parse(await nativeAsync(this._native.start()))
    this.address = info.address
    this.consoleAddress = info.console
    if (this._js.repl) {
      try {
        this._repl = await startRepl(this, { host: this._js.replHost, port: this._js.replPort }, (l, m) => this._log('repl', l, m))
        this.replAddress = this._repl.address()
      } catch (err) {
        await nativeAsync(this._native.stop())
        throw codedError('EC_IO', `the REPL cannot listen on ${this._js.replHost}:${this._js.replPort}: ${err.message}`)
      }
    }
  } catch (err) {
    this._setStatus('stopped')
    this._failQueue(err)
    throw err
  }
  // A running instance keeps the process alive, as a listening socket does (and is kept
  // alive itself: the timer holds it).
  // It also notices a stop made elsewhere (the Rust console's `stop`).
  this._keepAlive = setInterval(() => {
    if (this.status === 'started' && !this._native.isRunning()) this._stoppedUnderUs()
  }, 1000)
  this._warnedStopped = false
  this._setStatus('started')
  if (this._queue.length > this._queueHead && !this._flushing) this._flushing = this._flush()
}

Eventcast.prototype._stop = async function _stop() {
  if (this.status !== 'started') return
  while (this._flushing) await this._flushing
  this._setStatus('stopping')
  if (this._repl) {
    stopRepl(this._repl)
    this._repl = null
    this.replAddress = null
  }
  try {
    await nativeAsync(this._native.stop())
  } finally {
    await this._drained()
    this._afterStop(codedError('EC_NOT_RUNNING', 'the instance stopped before this event was sent'))
  }
}

Eventcast.prototype._afterStop = function _afterStop(err) {
  clearInterval(this._keepAlive)
  this._keepAlive = null
  this._failQueue(err)
  this._setStatus('stopped')
}

/** The native instance stopped without this object asking (the Rust console did). */
Eventcast.prototype._stoppedUnderUs = function _stoppedUnderUs() {
  if (this.status !== 'started') return
  this._lifecycle = this._lifecycle.catch(() => {}).then(async () => {
    if (this.status !== 'started') return
    this._setStatus('stopping')
    if (this._repl) {
      stopRepl(this._repl)
      this._repl = null
      this.replAddress = null
    }
    await this._drained()
    this._afterStop(codedError('EC_NOT_RUNNING', 'the instance was stopped (from its console) before this event was sent'))
  })
}

Eventcast.prototype._failQueue = function _failQueue(err) {
  for (let i = this._queueHead; i < this._queue.length; i++) this._queue[i].deferred?.reject(err)
  this._queue = []
  this._queueHead = 0
  this._queuedBytes = 0
  this.needDrain = false
}

Eventcast.prototype._setStatus = function _setStatus(status) {
  this.status = status
  if (status === 'started') this._emitInternal('start')
  else if (status === 'stopped') this._emitInternal('stop')
}

/** Whether the instance runs. */
Eventcast.prototype.isRunning = function isRunning() {
  return this.status === 'started'
}

// ---- counters and logging -------------------------------------------------------------

/** Every counter (the Rust core's, and this package's under `node`); `callback(err, stats)` too. */
Eventcast.prototype.stats = function stats(callback) {
  const p = nativeAsync(this._native.stats()).then((json) => {
    const s = JSON.parse(json)
    s.node = { ...this._counters, queued: this._queue.length - this._queueHead, queuedBytes: this._queuedBytes }
    return s
  })
  return withCallback(p, callback)
}

const COMPONENTS = ['eventcast', 'net', 'repl']

/**
 * The original's `logLevel([component], [level])`: no arguments → the level of every
 * component (`eventcast`, `net`, `repl`, in that order); a level → every component at
 * that level; a component and a level → that component. Levels: trace, debug, info,
 * warn, error, fatal, off.
 */
Eventcast.prototype.logLevel = function logLevel(component, level) {
  if (component === undefined && level === undefined) {
    return JSON.parse(this._native.logLevels()).map(([, l]) => l)
  }
  if (level === undefined) {
    level = component
    component = null
  }
  if (component !== null && !COMPONENTS.includes(component)) {
    throw codedError('EC_INVALID_OPTION', `invalid log component ${JSON.stringify(component)}: one of ${COMPONENTS.join(', ')}`, TypeError)
  }
  if (typeof level !== 'string') {
    throw codedError('EC_INVALID_OPTION', `invalid log level ${String(level)}: trace, debug, info, warn, error, fatal or off`, TypeError)
  }
  native(() => this._native.setLogLevel(component, level))
}

const RANK = { trace: 5, debug: 4, info: 3, warn: 2, error: 1, off: 0 }
Eventcast.prototype._log = function _log(component, level, message) {
  const levels = JSON.parse(this._native.logLevels())
  const current = levels[COMPONENTS.indexOf(component)]?.[1] ?? 'off'
  if (RANK[level] <= RANK[current]) process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase()} eventcast::${component}: ${message}\n`)
}

module.exports = { Eventcast }

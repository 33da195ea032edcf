'use strict'
// The original's surface: construction, options, the EventEmitter API, lifecycle,
// logLevel, errors with codes; patterns as the Rust core reads them.

const test = require('node:test')
const assert = require('node:assert/strict')
const { EventEmitter } = require('node:events')
const { Eventcast, instances, collect, randomNet } = require('./helpers')
const native = require('../lib/native')
const { matches } = require('../lib/pattern')

test('constructed with and without new, from a port or an options object', () => {
  const a = Eventcast(9000)
  const b = new Eventcast({ port: 9001, multicastMembership: '239.1.2.3', multicastTtl: 2, messageTtl: 1500 })
  const c = Eventcast()
  for (const ec of [a, b, c]) {
    assert.ok(ec instanceof Eventcast)
    assert.ok(ec instanceof EventEmitter)
    assert.equal(ec.status, 'stopped')
  }
  assert.equal(a.config.port, 9000)
  assert.equal(b.config.port, 9001)
  assert.equal(b.config.group, '239.1.2.3')
  assert.equal(b.config.ttl, 2)
  assert.equal(b.config.messageTtl, 1500)
  assert.equal(b.config.multicastMembership, '239.1.2.3', 'the options as given are in config too')
})

test('bad options fail at once, naming the option, the value and what is allowed', () => {
  const cases = [
    [{ port: 70000 }, /port: 70000 \(a port number from 1 to 65535\)/],
    [{ port: 0 }, /port: 0 \(a port number from 1 to 65535\)/],
    [{ port: '9000' }, /port: "9000"/],
    [{ multicastLoopback: 'yes' }, /multicastLoopback: "yes" \(true or false\)/],
    [{ encrypt: { key: '' } }, /encrypt: \{ key: "" \}/],
    [{ prot: 9000 }, /unknown option "prot"; the options are: address, port/],
    [{ delivery: 'sometimes' }, /delivery: "sometimes" \(one of 'reliable', 'unordered', 'best-effort'\)/],
    [{ key: Buffer.alloc(5) }, /key: <5 bytes>/],
    [{ logLevel: 'loud' }, /logLevel: "loud"/],
    ['9000', /options: "9000" \(a port number or an options object\)/],
  ]
  for (const [opts, message] of cases) {
    assert.throws(() => Eventcast(opts), (err) => {
      assert.equal(err.code, 'EC_INVALID_OPTION', `${JSON.stringify(opts)}: ${err.message}`)
      assert.match(err.message, message)
      return true
    })
  }
  // what only the core can check is reported with the same code
  assert.throws(() => Eventcast({ multicastMembership: '10.0.0.1' }), (err) => {
    assert.equal(err.code, 'EC_INVALID_OPTION')
    assert.match(err.message, /10\.0\.0\.1/)
    assert.ok(err instanceof Error)
    return true
  })
})

test('the EventEmitter API works as on any emitter', async () => {
  const ec = Eventcast(randomNet())
  const calls = []
  const f = (x) => calls.push(['f', x])
  ec.on('a', f)
  ec.prependListener('a', (x) => calls.push(['first', x]))
  ec.once('a', (x) => calls.push(['once', x]))
  assert.equal(ec.listenerCount('a'), 3)
  assert.deepEqual(ec.eventNames(), ['a'])
  // stopped: emit warns once and calls the local listeners, as the original did
  const warned = new Promise((resolve) => process.once('warning', resolve))
  assert.equal(ec.emit('a', 1), true)
  assert.equal((await warned).code, 'EC_NOT_RUNNING')
  ec.emit('a', 2)
  assert.deepEqual(calls, [['first', 1], ['f', 1], ['once', 1], ['first', 2], ['f', 2]])
  ec.off('a', f)
  ec.removeListener('a', f)
  assert.equal(ec.listenerCount('a'), 1)
  ec.removeAllListeners()
  assert.equal(ec.listenerCount('a'), 0)
  assert.equal(ec.emit('nobody'), false)
})

test('emit sends first, then calls local listeners; an instance does not hear its own network copy', async (t) => {
  const [a, b] = await instances(t, 2)
  const order = []
  a.on('ping', (x) => order.push(['a', x]))
  const atB = collect(b, 'ping', 2)
  assert.equal(a.emit('ping', 1), true)
  assert.deepEqual(order, [['a', 1]], 'local listeners ran inside emit')
  a.emit('ping', 2)
  assert.deepEqual(await atB, [[1], [2]])
  await new Promise((r) => setTimeout(r, 200))
  assert.deepEqual(order, [['a', 1], ['a', 2]], 'no second copy from the network')
})

test('start and stop take callbacks and return Promises; restart works; start/stop events', async () => {
  const ec = Eventcast(randomNet())
  const seen = []
  ec.on('start', () => seen.push('start'))
  ec.on('stop', () => seen.push('stop'))
  await new Promise((resolve, reject) => ec.start((err) => (err ? reject(err) : resolve())))
  assert.equal(ec.status, 'started')
  assert.match(ec.address, /^127\.0\.0\.1:\d+$|^\d+\.\d+\.\d+\.\d+:\d+$/)
  await ec.start() // already started: nothing to do
  await new Promise((resolve, reject) => ec.stop((err) => (err ? reject(err) : resolve())))
  assert.equal(ec.status, 'stopped')
  await ec.start()
  await ec.stop()
  await ec.stop()
  assert.deepEqual(seen, ['start', 'stop', 'start', 'stop'])
})

test('a start that fails rejects with a coded Error, and the callback gets it', async (t) => {
  const busy = require('node:net').createServer()
  await new Promise((resolve) => busy.listen(0, '127.0.0.1', resolve))
  t.after(() => busy.close())
  const ec = Eventcast({ ...randomNet(), replPort: busy.address().port, replHost: '127.0.0.1' })
  await assert.rejects(ec.start(), (err) => {
    assert.ok(err instanceof Error)
    assert.equal(err.code, 'EC_IO')
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${busy.address().port}`))
    return true
  })
  const err = await new Promise((resolve) => ec.start(resolve))
  assert.ok(err instanceof Error)
  assert.equal(ec.status, 'stopped')
})

test('emitAsync resolves once sent and rejects with EC_NOT_RUNNING when stopped', async (t) => {
  const [a, b] = await instances(t, 2)
  const got = collect(b, 'x', 1)
  await a.emitAsync('x', 'y')
  assert.deepEqual(await got, [['y']])
  await a.stop()
  await assert.rejects(a.emitAsync('x'), { code: 'EC_NOT_RUNNING' })
})

test('bad events are refused at emit with a code: names, size, unencodable arguments', async (t) => {
  const [a] = await instances(t, 1, { maxEventSize: 4096 })
  assert.throws(() => a.emit(''), { code: 'EC_INVALID_NAME' })
  assert.throws(() => a.emit('x'.repeat(1025)), { code: 'EC_INVALID_NAME' })
  assert.throws(() => a.emit('big', 'y'.repeat(5000)), (err) => {
    assert.equal(err.code, 'EC_EVENT_TOO_LARGE')
    assert.match(err.message, /maxEventSize allows at most 4096 bytes/)
    return true
  })
  assert.throws(() => a.emit('n', 2n ** 64n), { code: 'EC_ENCODING' })
  let deep = {}
  for (let i = 0; i < 70; i++) deep = { d: deep }
  await assert.rejects(a.emitAsync('deep', deep), { code: 'EC_ARGUMENTS_TOO_DEEP' })
  assert.throws(() => Eventcast({ multicastInterface: '192.0.2.77' }), (err) => {
    assert.equal(err.code, 'EC_INVALID_OPTION')
    assert.match(err.message, /192\.0\.2\.77/)
    return true
  })
})

test('patterns: listeners on sensor.* and **.alert hear matching events, local and remote', async (t) => {
  const [a, b] = await instances(t, 2)
  const seen = []
  b.on('sensor.*', function (...args) {
    seen.push([b.event, ...args])
  })
  b.on('**.alert', (x) => seen.push(['alert', x]))
  const done = collect(b, 'end', 1)
  a.emit('sensor.temp', 21.5)
  a.emit('sensor.temp.cpu', 1) // one segment too many for sensor.*
  a.emit('door.front.alert', 'open')
  a.emit('end')
  await done
  assert.deepEqual(seen, [['sensor.temp', 21.5], ['alert', 'open']])
  const local = []
  a.on('sensor.*', (x) => local.push(x))
  a.emit('sensor.hum', 40)
  assert.deepEqual(local, [40])
  assert.throws(() => a.on('a**b', () => {}), { code: 'EC_INVALID_PATTERN' })
})

test('the JavaScript pattern matcher agrees with the Rust core', () => {
  const patterns = ['a', 'a.*', 'a.**', '**', '**.err', 'a.**.z', '*', '*.*', 'node-*.up', 'a*b*c', '*.**.*', '**.**', 'x.*.z', 'a.b*', '*.', '.*', 'é.*']
  const names = ['a', 'a.b', 'a.b.c', 'a.z', 'a.b.c.z', 'err', 'x.err', 'x.y.err', 'node-7.up', 'node-.up', 'abc', 'aXbYc', 'ac', 'a.', '.a', '..', 'x.y.z', 'é.ü', 'a.bc', 'top']
  for (let i = 0; i < 300; i++) {
    const parts = []
    for (let j = 0; j < 1 + (i % 4); j++) parts.push(['a', 'b', '*', '**', 'x*', '*y', ''][(i * 7 + j * 3) % 7])
    patterns.push(parts.join('.'))
  }
  let compared = 0
  for (const p of patterns) {
    let valid = true
    try {
      native.checkPattern(p)
    } catch {
      valid = false
    }
    if (!valid) continue
    for (const n of names) {
      assert.equal(matches(p, n), native.patternMatches(p, n), `pattern ${JSON.stringify(p)} on ${JSON.stringify(n)}`)
      compared++
    }
  }
  assert.ok(compared > 2000, `${compared} comparisons`)
})

test('logLevel as the original: read all, set all, set one component', () => {
  const ec = Eventcast({ ...randomNet(), log: false })
  assert.deepEqual(ec.logLevel(), ['off', 'off', 'off'])
  ec.logLevel('warn')
  assert.deepEqual(ec.logLevel(), ['warn', 'warn', 'warn'])
  ec.logLevel('repl', 'debug')
  assert.deepEqual(ec.logLevel(), ['warn', 'warn', 'debug'])
  ec.logLevel('off')
  assert.throws(() => ec.logLevel('disk', 'info'), { code: 'EC_INVALID_OPTION' })
  assert.throws(() => ec.logLevel('loud'), { code: 'EC_INVALID_OPTION' })
})

test('stats() gives the core counters and the package own', async (t) => {
  const [a, b] = await instances(t, 2)
  const got = collect(b, 'n', 10)
  for (let i = 0; i < 10; i++) a.emit('n', i)
  await got
  const sa = await a.stats()
  const sb = await b.stats()
  assert.equal(sa.events_out, 10)
  assert.equal(sb.events_in, 10)
  assert.deepEqual(Object.keys(sb.node).sort(), ['listenerErrors', 'queued', 'queuedBytes', 'refused', 'refusedNames', 'undecodable'])
  const viaCallback = await new Promise((resolve, reject) => b.stats((err, s) => (err ? reject(err) : resolve(s))))
  assert.equal(viaCallback.events_in, 10)
})

test("this package's own events (start, stop, drain, eventcast:loss) never match patterns", async () => {
  const ec = Eventcast(randomNet())
  const seen = []
  ec.on('**', function () {
    seen.push(ec.event)
  })
  ec.on('*', () => seen.push('*'))
  await ec.start()
  await ec.stop()
  assert.deepEqual(seen, [])
})

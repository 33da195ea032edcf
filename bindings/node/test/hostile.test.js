'use strict'
// What a hostile or buggy peer can send cannot crash the process, fake this package's
// events, hold memory or the event loop: each case is sent raw, through the addon, as a
// peer on the LAN could.

const test = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const BSON = require('bson')
const { instances, collect, Eventcast, randomNet } = require('./helpers')
const { matches } = require('../lib/pattern')

/** Sends `name` with the raw BSON document `doc` from `ec`, as any peer could. */
function raw(ec, name, doc) {
  ec._native.trySend(name, doc)
}

/** A BSON document of `n` null values with keys "0", "1", … */
function nulls(n) {
  const parts = []
  for (let i = 0; i < n; i++) parts.push(Buffer.from([0x0a]), Buffer.from(String(i) + '\0', 'latin1'))
  const body = Buffer.concat(parts)
  const doc = Buffer.alloc(body.length + 5)
  doc.writeInt32LE(doc.length, 0)
  body.copy(doc, 4)
  return doc
}

test('an event with 200,000 arguments is dropped and counted, not a crash', async (t) => {
  const [a, b] = await instances(t, 2)
  const errors = []
  b.on('error', (e) => errors.push(e))
  let called = false
  b.on('many', () => (called = true))
  const after = collect(b, 'after', 1)
  raw(a, 'many', nulls(200_000))
  a.emit('after')
  await after
  assert.equal(called, false)
  assert.equal(errors[0]?.code, 'EC_UNDECODABLE')
  assert.equal((await b.stats()).node.undecodable, 1)
  assert.throws(() => a.emit('many', ...new Array(5000).fill(0)), { code: 'EC_ENCODING' })
})

test("peers cannot fake this package's events nor reach 'error' listeners", async (t) => {
  const [a, b] = await instances(t, 2)
  const after = collect(b, 'after', 1)
  const heard = []
  for (const name of ['start', 'stop', 'drain', 'eventcast:loss', 'replConnected', 'error', 'newListener']) {
    b.on(name, () => heard.push(name))
  }
  for (const name of ['start', 'stop', 'drain', 'eventcast:loss', 'replConnected', 'error', 'newListener']) {
    raw(a, name, BSON.serialize({ 0: 'forged' }))
  }
  a.emit('after')
  await after
  assert.deepEqual(heard, [])
  assert.equal((await b.stats()).node.refusedNames, 7)
  assert.throws(() => a.emit('stop'), { code: 'EC_INVALID_NAME' })
  assert.throws(() => a.emit('eventcast:loss', {}), { code: 'EC_INVALID_NAME' })
  await assert.rejects(a.emitAsync('drain'), { code: 'EC_INVALID_NAME' })
})

test('arguments that do not decode are dropped and reported; the events after them arrive', async (t) => {
  const [a, b] = await instances(t, 2)
  const errors = []
  b.on('error', (e) => {
    errors.push(e)
  })
  // a BSON regex whose pattern JavaScript cannot compile
  const regex = Buffer.concat([Buffer.from([0, 0, 0, 0, 0x0b]), Buffer.from('0\0(\0\0', 'latin1'), Buffer.from([0])])
  regex.writeInt32LE(regex.length, 0)
  const got = collect(b, 'n', 3)
  a.emit('n', 1)
  raw(a, 'n', regex)
  a.emit('n', 2)
  a.emit('n', 3)
  assert.deepEqual(await got, [[1], [2], [3]])
  assert.equal(errors.length, 1)
  assert.equal(errors[0].code, 'EC_UNDECODABLE')
  assert.match(errors[0].message, /from [0-9a-f]{16}/)
})

test('a received Buffer does not keep the batch it came in alive', async (t) => {
  const [a, b] = await instances(t, 2)
  const got = collect(b, 'blob', 500)
  for (let i = 0; i < 500; i++) a.emit('blob', Buffer.alloc(3, i), 'x'.repeat(400))
  const all = await got
  for (const [blob] of all) assert.ok(blob.buffer.byteLength <= 8192, `a 3-byte Buffer holds ${blob.buffer.byteLength} bytes`)
})

test('a flood of events does not starve timers: delivery yields to the event loop', async (t) => {
  const [a, b] = await instances(t, 2)
  const N = 50_000
  let ticks = 0
  const timer = setInterval(() => ticks++, 5)
  t.after(() => clearInterval(timer))
  let ticksAtHalf = -1
  const got = new Promise((resolve) => {
    let n = 0
    b.on('f', () => {
      const until = performance.now() + 0.02 // a listener with some work to do
      while (performance.now() < until);
      if (++n === N / 2) ticksAtHalf = ticks
      if (n === N) resolve()
    })
  })
  for (let i = 0; i < N; i++) a.emit('f', i)
  await got
  assert.ok(ticks > ticksAtHalf && ticksAtHalf > 0, `timer ticks: ${ticksAtHalf} at half, ${ticks} at the end`)
})

test('cyclic arguments fail at once with EC_ENCODING', async (t) => {
  const [a] = await instances(t, 1)
  const o = {}
  o.x = o
  o.y = o
  assert.throws(() => a.emit('c', o), { code: 'EC_ENCODING' })
})

test('patterns cannot be made to backtrack: a long name against many stars', () => {
  assert.equal(matches('*-*-*-*-*-*-*-*x', '-'.repeat(20_000)), false)
  assert.equal(matches('**.*-*-*-*x', 'a.' + '-'.repeat(20_000) + 'x'), true)
})

test('stopped from the Rust console: the object follows, the process may exit', async (t) => {
  const ec = Eventcast({ ...randomNet(), console: true })
  t.after(() => ec.stop())
  await ec.start()
  const stopped = new Promise((resolve) => ec.once('stop', resolve))
  const socket = net.connect(Number(ec.consoleAddress.split(':')[1]), '127.0.0.1')
  t.after(() => socket.destroy())
  socket.write('stop\n')
  await stopped
  assert.equal(ec.status, 'stopped')
  assert.equal(ec.isRunning(), false)
  await ec.start()
  assert.equal(ec.status, 'started')
})

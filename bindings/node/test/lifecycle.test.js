'use strict'
// Node's conventions for a process: an idle or stopped instance lets it exit, a running
// one keeps it alive (as a listening socket does), process.exit() with one running exits at
// once, and a listener that throws surfaces as an uncaught exception after the events of
// its batch were delivered.

const test = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const path = require('node:path')
const { randomNet, instances, collect } = require('./helpers')

const PKG = path.resolve(__dirname, '..')

/** Runs `code` in a fresh Node process; resolves to { code, signal, out, err, ms }. */
function node(code, { killAfterMs } = {}) {
  return new Promise((resolve) => {
    const started = Date.now()
    const child = spawn(process.execPath, ['-e', code], { cwd: PKG, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (c) => (out += c))
    child.stderr.on('data', (c) => (err += c))
    const timer = killAfterMs ? setTimeout(() => child.kill('SIGTERM'), killAfterMs) : null
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, out, err, ms: Date.now() - started })
    })
  })
}

const NET = JSON.stringify(randomNet())

test('an instance never started does not keep the process alive', async () => {
  const r = await node(`const ec = require('.')(${NET}); ec.on('x', () => {}); console.log('made')`, { killAfterMs: 10000 })
  assert.equal(r.signal, null, 'exited by itself')
  assert.equal(r.code, 0, r.err)
  assert.equal(r.out.trim(), 'made')
})

test('started then stopped: the process exits by itself', async () => {
  const r = await node(
    `const ec = require('.')(${NET}); ec.start().then(() => { ec.emit('x', 1); return ec.stop() }).then(() => console.log('stopped'))`,
    { killAfterMs: 10000 },
  )
  assert.equal(r.signal, null, 'exited by itself')
  assert.equal(r.code, 0, r.err)
  assert.equal(r.out.trim(), 'stopped')
})

test('a running instance keeps the process alive until stopped', async () => {
  const r = await node(`const ec = require('.')(${NET}); ec.start(() => console.log('running'))`, { killAfterMs: 1500 })
  assert.equal(r.signal, 'SIGTERM', 'still running when killed')
  assert.equal(r.out.trim(), 'running')
  const r2 = await node(`const ec = require('.')(${NET}); ec.start(() => setTimeout(() => ec.stop(() => console.log('done')), 300))`, { killAfterMs: 10000 })
  assert.equal(r2.signal, null)
  assert.equal(r2.out.trim(), 'done')
})

test('process.exit() with an instance running exits at once with its code', async () => {
  const r = await node(`const ec = require('.')(${NET}); ec.start(() => { ec.emit('x'); process.exit(3) })`, { killAfterMs: 10000 })
  assert.equal(r.signal, null)
  assert.equal(r.code, 3)
})

test('restart many times, then exit', async () => {
  const r = await node(
    `const ec = require('.')(${NET}); (async () => { for (let i = 0; i < 20; i++) { await ec.start(); await ec.stop() } console.log('ok') })()`,
    { killAfterMs: 20000 },
  )
  assert.equal(r.code, 0, r.err)
  assert.equal(r.out.trim(), 'ok')
})

test('a listener that throws: the rest of the batch is delivered, then an uncaught exception', async () => {
  const code = `
    const Eventcast = require('.')
    const net = ${NET}
    const a = Eventcast(net), b = Eventcast(net)
    let n = 0
    b.on('e', (i) => { n++; if (i === 3) throw new Error('listener failed on ' + i) })
    process.on('exit', () => console.log('delivered ' + n))
    Promise.all([a.start(), b.start()]).then(() => { for (let i = 0; i < 10; i++) a.emit('e', i) })
  `
  const r = await node(code, { killAfterMs: 10000 })
  assert.equal(r.code, 1, 'an uncaught exception ends the process, as in any EventEmitter listener')
  assert.match(r.err, /listener failed on 3/)
  // events of the same batch after the throwing call were still delivered
  const delivered = Number(/delivered (\d+)/.exec(r.out)?.[1])
  assert.ok(delivered >= 4, r.out)
})

test("'error' is never sent nor taken from the network: emit('error') is local, as on any EventEmitter", async (t) => {
  const [a, b] = await instances(t, 2)
  const atB = []
  b.on('error', (e) => atB.push(e))
  const after = collect(b, 'after', 1)
  assert.throws(() => a.emit('error', 'local trouble'), { code: 'ERR_UNHANDLED_ERROR' })
  const atA = []
  a.on('error', (e) => atA.push(e))
  assert.equal(a.emit('error', 'handled'), true)
  a.emit('after')
  await after
  assert.deepEqual(atA, ['handled'])
  assert.deepEqual(atB, [], 'b heard no error from the network')
})

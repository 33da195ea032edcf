'use strict'
// Node and the Rust CLI share one event space: each hears the other, with and without
// encryption, small events and a 150 KB one.

const test = require('node:test')
const assert = require('node:assert/strict')
const { spawn, execFile } = require('node:child_process')
const { promisify } = require('node:util')
const { Eventcast, randomNet, collect, cliBinary, waitForLine } = require('./helpers')

const run = promisify(execFile)
const cli = cliBinary()
const skip = cli ? false : 'the eventcast CLI is not built (cargo build --release, or set EVENTCAST_BIN)'

function netArgs(net) {
  return ['--interface', '127.0.0.1', '--port', String(net.port), '--group', net.multicastMembership]
}

/**
 * Starts `eventcast listen`; resolves once it listens, to `{ done }`, a promise of its exit
 * status and JSON lines (wrapped: an async function returning a promise would wait for it).
 */
async function listen(t, net, args, env = {}) {
  const child = spawn(cli, ['listen', ...netArgs(net), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => child.kill())
  let out = ''
  child.stdout.on('data', (c) => (out += c))
  let err = ''
  child.stderr.on('data', (c) => (err += c))
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)))
  await waitForLine(child.stderr, 'listening')
  return { done: exited.then((code) => ({ code, err, lines: out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) })) }
}

test('the CLI hears Node: names, arguments as Extended JSON, a 150 KB event', { skip }, async (t) => {
  const net = randomNet()
  const { done } = await listen(t, net, ['--count', '3', '--timeout', '20'])
  const ec = Eventcast(net)
  t.after(() => ec.stop())
  await ec.start()
  ec.emit('sensor.temp', 'kitchen', 21.5, 7, 9007199254740993n, new Date(Date.UTC(2024, 4, 6, 7, 8, 9)), { nested: [1, null] })
  ec.emit('big', 'x'.repeat(150_000))
  ec.emit('done')
  const { code, lines, err } = await done
  assert.equal(code, 0, err)
  assert.deepEqual(lines.map((l) => l.event), ['sensor.temp', 'big', 'done'])
  assert.deepEqual(lines[0].args, ['kitchen', 21.5, 7, 9007199254740993, { $date: '2024-05-06T07:08:09Z' }, { nested: [1, null] }])
  assert.equal(lines[1].args[0].length, 150_000)
  assert.match(lines[0].from, /^127\.0\.0\.1:/)
})

test('Node hears the CLI: JSON and Extended JSON arguments arrive typed', { skip }, async (t) => {
  const net = randomNet()
  const ec = Eventcast(net)
  t.after(() => ec.stop())
  await ec.start()
  const got = collect(ec, 'sensor.temp', 1)
  const big = collect(ec, 'big', 1)
  await run(cli, ['emit', ...netArgs(net), '--linger', '0.3', 'sensor.temp', 'kitchen', '21.5', '42', '{"$numberLong": "9007199254740993"}', '{"$date": "2024-05-06T07:08:09Z"}', '{"$oid": "0123456789abcdef01234567"}', 'null'])
  const [[room, celsius, n, long, date, oid, nothing]] = await got
  assert.equal(room, 'kitchen')
  assert.equal(celsius, 21.5)
  assert.equal(n, 42)
  assert.equal(long, 9007199254740993n)
  assert.deepEqual(date, new Date('2024-05-06T07:08:09Z'))
  assert.equal(oid.toHexString(), '0123456789abcdef01234567')
  assert.equal(nothing, null)
  const child = spawn(cli, ['emit', ...netArgs(net), '--linger', '0.5', '--stdin'], { stdio: ['pipe', 'ignore', 'inherit'] })
  child.stdin.end(JSON.stringify({ event: 'big', args: ['y'.repeat(150_000)] }) + '\n')
  const [[text]] = await big
  assert.equal(text, 'y'.repeat(150_000))
})

test('encrypted: Node and the CLI with one passphrase hear each other both ways', { skip }, async (t) => {
  const net = randomNet()
  const env = { EVENTCAST_KEY: 'correct horse battery' }
  const { done } = await listen(t, net, ['--count', '1', '--timeout', '20'], env)
  const ec = Eventcast({ ...net, encrypt: { key: 'correct horse battery' } })
  t.after(() => ec.stop())
  await ec.start()
  const got = collect(ec, 'from-cli', 1)
  ec.emit('from-node', 'sealed')
  const { code, lines, err } = await done
  assert.equal(code, 0, err)
  assert.deepEqual(lines[0].args, ['sealed'])
  await run(cli, ['emit', ...netArgs(net), '--linger', '0.3', 'from-cli', 'also sealed'], { env: { ...process.env, ...env } })
  assert.deepEqual(await got, [['also sealed']])
  // the CLI without the key hears nothing from Node
  const { done: deaf } = await listen(t, net, ['--timeout', '1'])
  ec.emit('from-node', 'unheard')
  const { lines: none } = await deaf
  assert.deepEqual(none, [])
})

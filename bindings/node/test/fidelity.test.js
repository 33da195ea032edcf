'use strict'
// Arguments keep their exact JavaScript and BSON types: Node → Node, and Node → Rust →
// Node through a Rust program that decodes them to typed BSON values and encodes them
// again (examples/relay.rs), which also prints the types Rust saw.

const test = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const readline = require('node:readline')
const bson = require('bson')
const { Eventcast, instances, collect, randomNet, relayBinary, waitForLine } = require('./helpers')

const { ObjectId, Long, Decimal128, Timestamp, MinKey, MaxKey, Code, Binary, BSONSymbol } = bson

/**
 * One value of every kind a program may send, with the canonical Extended JSON Rust reads
 * and, where it differs from the value sent, what a Node listener gets.
 */
function everyKind() {
  return [
    ['héllo', 'héllo'],
    ['', ''],
    [42, { $numberInt: '42' }],
    [-7, { $numberInt: '-7' }],
    [1.5, { $numberDouble: '1.5' }],
    [-0, { $numberDouble: '-0.0' }],
    [2 ** 40, { $numberDouble: '1099511627776.0' }],
    [123456.789, { $numberDouble: '123456.789' }],
    [NaN, { $numberDouble: 'NaN' }],
    [-Infinity, { $numberDouble: '-Infinity' }],
    [true, true],
    [false, false],
    [null, null],
    [undefined, { $undefined: true }],
    [[1, [2, [3]], 'x'], [{ $numberInt: '1' }, [{ $numberInt: '2' }, [{ $numberInt: '3' }]], 'x']],
    [{ a: 1, nested: { b: [1, 2], c: null } }, { a: { $numberInt: '1' }, nested: { b: [{ $numberInt: '1' }, { $numberInt: '2' }], c: null } }],
    [new Date(1714979289010), { $date: { $numberLong: '1714979289010' } }],
    [/^a.b$/im, { $regularExpression: { pattern: '^a.b$', options: 'im' } }],
    [Buffer.from([0, 1, 2, 255]), { $binary: { base64: 'AAEC/w==', subType: '00' } }],
    [5n, { $numberLong: '5' }],
    [2n ** 63n - 1n, { $numberLong: '9223372036854775807' }],
    [-(2n ** 63n), { $numberLong: '-9223372036854775808' }],
    [new ObjectId('0123456789abcdef01234567'), { $oid: '0123456789abcdef01234567' }],
    [Decimal128.fromString('1.10'), { $numberDecimal: '1.10' }],
    [new Timestamp({ t: 1, i: 2 }), { $timestamp: { t: 1, i: 2 } }],
    [new MinKey(), { $minKey: 1 }],
    [new MaxKey(), { $maxKey: 1 }],
    [new Code('f()'), { $code: 'f()' }],
    [new Code('g(x)', { x: 1 }), { $code: 'g(x)', $scope: { x: { $numberInt: '1' } } }],
    [new Binary(Buffer.from([9, 8]), 0x80), { $binary: { base64: 'CQg=', subType: '80' } }, Buffer.from([9, 8])],
    [new BSONSymbol('s'), { $symbol: 's' }, 's'], // deprecated BSON type: a string in JavaScript
  ]
}

test('every kind of argument arrives exactly, Node to Node', async (t) => {
  const [a, b] = await instances(t, 2)
  const kinds = everyKind().map(([v]) => v)
  const want = everyKind().map(([v, , arrives]) => (arrives === undefined ? v : arrives))
  const got = collect(b, 'kinds', 3)
  a.emit('kinds', ...kinds)
  a.emit('kinds', undefined) // a lone undefined stays undefined
  a.emit('kinds')
  const [all, lone, none] = await got
  assert.equal(all.length, kinds.length)
  for (let i = 0; i < kinds.length; i++) assert.deepStrictEqual(all[i], want[i], `argument ${i}`)
  assert.deepStrictEqual(lone, [undefined])
  assert.deepStrictEqual(none, [])
})

test('binary of every subtype arrives as a Buffer; longs as chosen; nested undefined as null', async (t) => {
  const [a, b] = await instances(t, 2, [{}, { longs: 'long' }])
  const got = collect(b, 'x', 1)
  a.emit('x', new Uint8Array([1, 2]), 7n, Long.fromString('-3'), [undefined], { u: undefined })
  const [[bytes, seven, minus3, arr, obj]] = await got
  assert.ok(Buffer.isBuffer(bytes), 'a Uint8Array arrives as a Buffer')
  assert.deepEqual([...bytes], [1, 2])
  assert.ok(Long.isLong(seven) && seven.toString() === '7', 'longs: "long" gives Long objects')
  assert.equal(minus3.toString(), '-3')
  assert.deepStrictEqual(arr, [null], 'undefined inside an array arrives as null (as in JSON)')
  assert.deepStrictEqual(obj, { u: null })
})

test('a 150 KB event and many events in order', async (t) => {
  const [a, b] = await instances(t, 2)
  const big = 'x'.repeat(150_000)
  const blob = Buffer.alloc(50_000, 7)
  const gotBig = collect(b, 'big', 1)
  const gotMany = collect(b, 'n', 2000)
  a.emit('big', big, blob)
  for (let i = 0; i < 2000; i++) a.emit('n', i)
  const [[s, bytes]] = await gotBig
  assert.equal(s, big)
  assert.deepEqual(bytes, blob)
  assert.deepEqual((await gotMany).map(([i]) => i), [...Array(2000).keys()])
})

test('Node → Rust → Node: Rust reads each type as it should and sends it back unchanged', async (t) => {
  const relay = relayBinary()
  if (!relay) return t.skip('the relay example is not built (cargo build --release --example relay)')
  const net = randomNet()
  const back = net.port + 1
  const child = spawn(relay, ['127.0.0.1', String(net.port), String(back), '1', net.multicastMembership], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => child.kill())
  await waitForLine(child.stderr, 'ready')
  const sender = Eventcast(net)
  const receiver = Eventcast({ ...net, port: back })
  t.after(() => Promise.all([sender.stop(), receiver.stop()]))
  await Promise.all([sender.start(), receiver.start()])
  const kinds = everyKind()
  const got = collect(receiver, 'kinds', 1)
  const lines = readline.createInterface({ input: child.stdout })
  const rustLine = new Promise((resolve) => lines.once('line', resolve))
  sender.emit('kinds', ...kinds.map(([v]) => v))
  const seen = JSON.parse(await rustLine)
  assert.equal(seen.event, 'kinds')
  for (let i = 0; i < kinds.length; i++) assert.deepStrictEqual(seen.args[i], kinds[i][1], `Rust's view of argument ${i}`)
  const [args] = await got
  for (let i = 0; i < kinds.length; i++) {
    const [sent, , arrives] = kinds[i]
    assert.deepStrictEqual(args[i], arrives === undefined ? sent : arrives, `argument ${i} after the round trip`)
  }
})

test('encrypted instances hear each other; others hear nothing', async (t) => {
  const [a, b, plain, other] = await instances(t, 4, [
    { encrypt: { key: 'correct horse' } },
    { encrypt: { key: 'correct horse' } },
    {},
    { encrypt: { key: 'battery staple' } },
  ])
  const heard = []
  plain.on('secret', (x) => heard.push(['plain', x]))
  other.on('secret', (x) => heard.push(['other', x]))
  const got = collect(b, 'secret', 1)
  a.emit('secret', 'the plan')
  assert.deepEqual(await got, [['the plan']])
  await new Promise((r) => setTimeout(r, 300))
  assert.deepEqual(heard, [])
  const otherStats = await other.stats()
  const plainStats = await plain.stats()
  assert.ok(otherStats.dropped.forged > 0, `another key: ${JSON.stringify(otherStats.dropped)}`)
  assert.ok(plainStats.dropped.sealed_without_key > 0, `no key: ${JSON.stringify(plainStats.dropped)}`)
})

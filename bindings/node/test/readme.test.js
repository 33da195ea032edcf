'use strict'
// The original README's examples, run as written apart from the require line. To keep every
// packet on loopback, `Eventcast` here is the package with the loopback interface added to
// the options (nothing else changes).

const test = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const os = require('node:os')
const { once } = require('node:events')
const RealEventcast = require('..')
const { randomNet } = require('./helpers')

function loopbackEventcast() {
  const made = []
  function Eventcast(opts) {
    const o = typeof opts === 'number' ? { port: opts } : { ...opts }
    const ec = RealEventcast({ multicastInterface: '127.0.0.1', ...o })
    made.push(ec)
    return ec
  }
  return { Eventcast, made }
}

test('README: two instances, on and emit — without start, as written, emit stays local', async (t) => {
  const { Eventcast, made } = loopbackEventcast()
  t.after(() => Promise.all(made.map((ec) => ec.stop())))
  const heard = []
  const handleEvent = (x) => heard.push(x)
  const warned = new Promise((resolve) => process.once('warning', resolve))

  var ec1 = Eventcast(9000) // port 9000
  ec1.on('myevent', handleEvent)
  var ec2 = Eventcast(9000) // port 9000
  ec2.emit('myevent', 'hello')

  assert.equal((await warned).code, 'EC_NOT_RUNNING', 'the original logged a warning too')
  assert.deepEqual(heard, [])
})

test('README: the same with start(), as the original examples do: ec1 hears hello', async (t) => {
  const { Eventcast, made } = loopbackEventcast()
  t.after(() => Promise.all(made.map((ec) => ec.stop())))
  const port = randomNet().port
  const heard = new Promise((resolve) => {
    var handleEvent = resolve
    var ec1 = Eventcast(port)
    ec1.on('myevent', handleEvent)
    var ec2 = Eventcast(port)
    ec1.start(function () {
      ec2.start(function () {
        ec2.emit('myevent', 'hello')
      })
    })
  })
  assert.equal(await heard, 'hello')
})

test('README: telnet localhost 20001, then eventcast.stop()', async (t) => {
  const { Eventcast, made } = loopbackEventcast()
  t.after(() => Promise.all(made.map((ec) => ec.stop())))
  // the original's example/server1.js
  var server = Eventcast({
    port: 19999,
    multicastLoopback: true,
    multicastMembership: '224.192.1.1',
    replPort: 20001,
  })
  server.start()
  await once(server, 'start')

  const socket = net.connect(20001, 'localhost')
  t.after(() => socket.destroy())
  socket.setEncoding('utf8')
  let text = ''
  socket.on('data', (c) => (text += c))
  const prompt = `eventcast@${os.hostname()}> `
  while (!text.includes(prompt)) await once(socket, 'data')
  const stopped = once(server, 'stop')
  socket.write('eventcast.stop()\n')
  await stopped
  assert.equal(server.status, 'stopped')
})

test('README: every option of the original is accepted', async (t) => {
  const ec = RealEventcast({
    address: '0.0.0.0',
    port: randomNet().port,
    multicastMembership: '239.255.42.42',
    multicastInterface: '127.0.0.1',
    multicastLoopback: true,
    multicastTtl: 1,
    replPort: 0,
    replHost: 'localhost',
    encrypt: { key: 'a passphrase' },
    maxPayloadSize: 1024,
    messageTtl: 3000,
    log: false,
    logLevel: 'info',
  })
  t.after(() => ec.stop())
  await ec.start()
  assert.equal(ec.status, 'started')
  assert.equal(ec.config.encrypted, true)
  assert.equal(ec.config.messageTtl, 3000)
})

'use strict'
// One Node process of the namespace suite (tests/netns/bindings.sh node), on a host of its own:
//   node netns-peer.js listen IFACE PORT COUNT [PASSPHRASE]
//     prints each event as a JSON line ({event, args, sender, from}, binary as hex,
//     BigInt as a number within 2^53), "listening" on stderr once started; exits 0
//     after COUNT events.
//   node netns-peer.js emit IFACE PORT N [PASSPHRASE]
//     sends N numbered events, a 150 KB event and "done", waits for them to go out, and
//     stays a moment to answer repair requests.
const Eventcast = require('..')

const [mode, iface, port, count, passphrase] = process.argv.slice(2)
const ec = Eventcast({
  port: Number(port),
  multicastMembership: '239.255.77.77',
  multicastInterface: iface,
  ...(passphrase ? { encrypt: { key: passphrase } } : {}),
})

// BigInts within 2^53 print as JSON numbers, binary as hex: the same lines as the Python peer's
const show = (v) => (typeof v === 'bigint' && Number.isSafeInteger(Number(v)) ? Number(v) : typeof v === 'bigint' ? v.toString() : Buffer.isBuffer(v) ? v.toString('hex') : v)

async function main() {
  if (mode === 'listen') {
    let left = Number(count)
    ec.on('**', function (...args) {
      const info = ec.eventInfo()
      console.log(JSON.stringify({ event: info.name, args: args.map(show), sender: info.sender, from: info.from }))
      if (--left === 0) ec.stop()
    })
    ec.on('eventcast:loss', (loss) => console.error(`lost ${loss.count} events of ${loss.sender}`))
    await ec.start()
    console.error(`listening on ${ec.address}`)
  } else if (mode === 'emit') {
    await ec.start()
    for (let i = 0; i < Number(count); i++) ec.emit('n', i, BigInt(i) * 1000000000000n, Buffer.from([i & 255]))
    await ec.emitAsync('big', 'x'.repeat(150_000))
    await ec.emitAsync('done')
    await new Promise((r) => setTimeout(r, 1500))
    await ec.stop()
  } else {
    console.error('usage: netns-peer.js listen|emit IFACE PORT COUNT [PASSPHRASE]')
    process.exit(2)
  }
}
main().catch((err) => {
  console.error(err)
  process.exit(1)
})

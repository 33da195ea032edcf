'use strict'
// The original's REPL: Node's `repl` on each TCP connection, with the instance in scope as
// `eventcast` (and `ec`, the original's name for it), prompt `eventcast@HOSTNAME> `.
// Anyone who can connect runs code in this process: it listens on localhost unless told
// otherwise, and warns when told otherwise.

const net = require('node:net')
const os = require('node:os')

const MAX_CLIENTS = 8
const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', 'ip6-localhost'])

/** Listens on `host:port` (0 for a free port); resolves to the server once listening. */
function startRepl(ec, { host, port }, log) {
  if (!LOOPBACK.has(host)) {
    process.emitWarning(
      `eventcast: the REPL listens on ${host}, not on localhost: anyone who can reach it can run code in this process`,
      { code: 'EC_REPL_EXPOSED' },
    )
  }
  const sessions = new Set()
  const server = net.createServer((socket) => {
    socket.on('error', () => {})
    if (sessions.size >= MAX_CLIENTS) {
      socket.end(`eventcast: ${MAX_CLIENTS} REPL sessions are open already; try again later\n`)
      return
    }
    sessions.add(socket)
    // required here, not at load: loading `repl` loads `domain`, which slows every
    // EventEmitter's emit in the process
    const session = require('node:repl').start({
      prompt: `eventcast@${os.hostname()}> `,
      input: socket,
      output: socket,
      terminal: false,
      useGlobal: false,
      ignoreUndefined: true,
    })
    session.context.eventcast = ec
    session.context.ec = ec
    log('info', `REPL client connected (${sessions.size} open)`)
    ec._emitInternal('replConnected', socket.remoteAddress)
    session.on('exit', () => socket.end())
    socket.on('close', () => {
      sessions.delete(socket)
      session.close()
      log('info', `REPL client disconnected (${sessions.size} open)`)
      ec._emitInternal('replDisconnected', socket.remoteAddress)
    })
  })
  server.sessions = sessions
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.removeListener('error', reject)
      server.on('error', (err) => log('error', `REPL: ${err.message}`))
      const a = server.address()
      log('info', `REPL started on ${a.address}:${a.port}`)
      resolve(server)
    })
  })
}

/**
 * Stops accepting connections. Open sessions go on (so `eventcast.stop()` typed in one
 * can be followed by `eventcast.start()`), but no longer keep the process alive.
 */
function stopRepl(server) {
  server.close()
  for (const s of server.sessions) s.unref()
}

module.exports = { startRepl, stopRepl }

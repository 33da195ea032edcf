// Compiled (not run) by test/types.test.js with tsc --strict: the types accept what the
// README shows and refuse what they should.
import Eventcast = require('..')

const ec1 = Eventcast(9000)
const ec2 = new Eventcast({ port: 9000, multicastInterface: '127.0.0.1', encrypt: { key: 'k' }, delivery: 'unordered' })
ec1.on('myevent', (greeting: string) => console.log(greeting))
ec1.on('eventcast:loss', (loss) => console.log(loss.count + 1n, loss.sender.length))
const sent: boolean = ec2.emit('myevent', 'hello', 1, { a: [1n] })
async function main(): Promise<void> {
  await ec1.start()
  await ec2.emitAsync('x')
  const stats = await ec1.stats()
  console.log(stats.events_in, sent, ec1.status, ec1.logLevel().length)
  ec1.logLevel('repl', 'debug')
  await ec1.stop()
}
void main()
// @ts-expect-error: ports are numbers
Eventcast({ port: '9000' })
// @ts-expect-error: not a delivery mode
Eventcast({ delivery: 'sometimes' })

// The ES module entry: `import Eventcast from 'eventcast'` or `import { Eventcast } from 'eventcast'`.
import { createRequire } from 'node:module'
const require = createRequire(import.meta.url)
const Eventcast = require('./index.js')
export default Eventcast
export { Eventcast }

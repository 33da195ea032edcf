'use strict'
// eventcast: a network event emitter. `const Eventcast = require('eventcast')`, as the
// original; `Eventcast.Eventcast` and `Eventcast.default` are the same function.
const { Eventcast } = require('./lib/eventcast')
module.exports = Eventcast
module.exports.Eventcast = Eventcast
module.exports.default = Eventcast

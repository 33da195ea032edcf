'use strict'
// Errors as Node programs expect them: `Error` objects with a stable `code`.

/** An Error with `code`. */
function codedError(code, message, Ctor = Error) {
  const err = new Ctor(message)
  err.code = code
  return err
}

/** The addon's errors carry their code as a `[CODE] ` prefix: move it into `code`. */
function fromNative(err) {
  if (err && typeof err.message === 'string') {
    const m = /^\[(EC_[A-Z_]+)\] /.exec(err.message)
    if (m) {
      err.message = err.message.slice(m[0].length)
      err.code = m[1]
    }
  }
  return err
}

/** Calls `fn`, rethrowing the addon's errors with their code. */
function native(fn) {
  try {
    return fn()
  } catch (err) {
    throw fromNative(err)
  }
}

/** Awaits the addon's `promise`, rejecting with coded errors. */
async function nativeAsync(promise) {
  try {
    return await promise
  } catch (err) {
    throw fromNative(err)
  }
}

module.exports = { codedError, fromNative, native, nativeAsync }

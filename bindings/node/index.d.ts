// Types of the eventcast package: the original's API (an EventEmitter whose emit first
// sends to the network) over the Rust core.

import { EventEmitter } from 'node:events'

declare namespace Eventcast {
  /** Where a datagram's reliability stands: see the Rust library's DeliveryMode. */
  type Delivery = 'reliable' | 'unordered' | 'best-effort'
  type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'

  /** The constructor's options: the original's names first, then this package's own. */
  interface Options {
    /** Address the UDP socket binds to (default: the group address on Linux). */
    address?: string
    /** UDP port; instances that want to hear each other use the same one (default 9000). */
    port?: number
    /** Multicast group to join (default 239.255.0.99). */
    multicastMembership?: string
    /** Interface for multicast, by name or address (`'127.0.0.1'`, `'eth0'`); default: the OS's choice. */
    multicastInterface?: string | null
    /** Hear instances on this machine (default true). */
    multicastLoopback?: boolean
    /** Multicast TTL; 1 keeps datagrams on the local network (default 1). */
    multicastTtl?: number
    /** Serve the JavaScript REPL on this TCP port (0: a free one, see `replAddress`). */
    replPort?: number | null
    /** The REPL's host (default localhost). */
    replHost?: string
    /** Encrypt and authenticate every datagram (AES-GCM) with a key derived from this passphrase. */
    encrypt?: false | { key: string }
    /** Largest datagram, in bytes; larger events are segmented (default 1024). */
    maxPayloadSize?: number
    /** Drop an incomplete segmented event after this many milliseconds without a fragment (default 3000). */
    messageTtl?: number
    /** Log to stderr (default false). */
    log?: boolean
    /** The most verbose level logged (default info). */
    logLevel?: LogLevel
    /** The original's instance id: accepted and ignored (each start takes a fresh random sender id). */
    id?: string

    /** Alias of `multicastMembership`. */
    group?: string
    /** Alias of `multicastInterface`. */
    interface?: string
    /** How events are delivered (default 'reliable': every event, in each sender's order). */
    delivery?: Delivery
    /** Which events of a sender already running a new instance gets (default 'live'). */
    startAt?: 'live' | 'oldest'
    /** Largest event, encoded (default 8 MiB). */
    maxEventSize?: number
    /** Sending rate limit, bytes per second. */
    paceRate?: number
    /** Events kept for repair, at most. */
    retransmitEvents?: number
    /** Bytes kept for repair, at most. */
    retransmitBytes?: number
    /** Socket receive buffer to ask for, in bytes. */
    recvBufferSize?: number
    /** Alias of `encrypt: { key }`. */
    passphrase?: string
    /** A raw AES key instead of a passphrase: 16 or 32 bytes, or their hex. */
    key?: Uint8Array | string
    /** The key's id (default 1). */
    keyId?: number
    /** Unicast peers, `'HOST:PORT'`, for networks without multicast. */
    peers?: string[]
    /** Use the multicast group (default true; false with peers or NATS only). */
    multicast?: boolean
    /** A NATS server (or several, comma-separated), or its options. */
    nats?:
      | string
      | { url: string | string[]; subject?: string; token?: string; user?: string; password?: string; creds?: string; nkey?: string; tlsCa?: string }
    /** The Rust TCP console (the CLI's `eventcast console`), besides or instead of the REPL. */
    console?: boolean | { port?: number; host?: string; token?: string }
    /** Serve the JavaScript REPL (on `replPort`, else a free port). */
    repl?: boolean
    /** How 64-bit integers arrive: BigInt (default), bson Long objects, or numbers (inexact past 2^53). */
    longs?: 'bigint' | 'long' | 'number'
    /** Bytes of emitted events that may wait in this object for room before emit throws EC_BACKPRESSURE (default 64 MiB). */
    maxQueuedBytes?: number
    /** Bytes of received events the core may hold for JavaScript before it waits (default 8 MiB). */
    inboxBytes?: number
    /** Events buffered per Rust subscription stream. */
    streamCapacity?: number
  }

  /** Events of a sender that could not be repaired and were skipped: `'eventcast:loss'`. */
  interface Loss {
    /** The sender's id (16 hex digits). */
    sender: string
    first: bigint
    last: bigint
    count: bigint
  }

  /** Where the event being delivered came from (`eventInfo()`, during a listener call). */
  interface EventInfo {
    name: string
    sender: string
    seq: bigint
    from: string | null
  }

  /** An Error of this package: `code` is `EC_*` (EC_INVALID_OPTION, EC_NOT_RUNNING, EC_BACKPRESSURE, …). */
  interface EventcastError extends Error {
    code: string
  }

  type Callback = (err: EventcastError | null) => void
}

interface Eventcast extends EventEmitter {
  /** The options in force (after defaults) and the options as given. */
  readonly config: Record<string, unknown>
  /** 'stopped' | 'starting' | 'started' | 'stopping'. */
  readonly status: 'stopped' | 'starting' | 'started' | 'stopping'
  /** The UDP socket's local address once started. */
  readonly address: string | null
  /** The Rust console's address once started with `console`. */
  readonly consoleAddress: string | null | undefined
  /** The REPL's address once started with `replPort` or `repl`. */
  readonly replAddress: { address: string; port: number; family: string } | null
  /** The name of the event being delivered, during a listener call. */
  readonly event: string | undefined
  /** True while emitted events wait in this object; `'drain'` follows. */
  readonly needDrain: boolean

  /** Binds and joins the group; the callback and the Promise follow. */
  start(callback?: Eventcast.Callback): Promise<void>
  /** Sends what waits, then leaves and closes; the callback and the Promise follow. */
  stop(callback?: Eventcast.Callback): Promise<void>
  isRunning(): boolean
  /**
   * Sends to the network, then calls local listeners (and those of matching patterns);
   * returns whether any listener was called. Never blocks.
   */
  emit(event: string | symbol, ...args: any[]): boolean
  /** As emit, resolving once the event was handed to the protocol; rejects with EC_BACKPRESSURE past maxQueuedBytes. */
  emitAsync(event: string, ...args: any[]): Promise<void>
  /** `{ name, sender, seq, from }` of the network event being delivered; null otherwise. */
  eventInfo(): Eventcast.EventInfo | null
  /** Every counter: the Rust core's, and this package's under `node`. */
  stats(): Promise<Record<string, any>>
  stats(callback: (err: Error | null, stats?: Record<string, any>) => void): Promise<void>
  /** Levels of the components eventcast, net, repl, in that order. */
  logLevel(): string[]
  /** Sets every component's level. */
  logLevel(level: Eventcast.LogLevel | 'off'): void
  /** Sets one component's level. */
  logLevel(component: 'eventcast' | 'net' | 'repl', level: Eventcast.LogLevel | 'off'): void

  on(event: 'eventcast:loss', listener: (loss: Eventcast.Loss) => void): this
  on(event: 'drain' | 'start' | 'stop', listener: () => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
  once(event: 'eventcast:loss', listener: (loss: Eventcast.Loss) => void): this
  once(event: string | symbol, listener: (...args: any[]) => void): this
}

interface EventcastConstructor {
  new (options?: number | Eventcast.Options): Eventcast
  (options?: number | Eventcast.Options): Eventcast
  readonly prototype: Eventcast
  /** The same function, for `import { Eventcast } from 'eventcast'`. */
  readonly Eventcast: EventcastConstructor
  readonly default: EventcastConstructor
}

declare const Eventcast: EventcastConstructor
export = Eventcast

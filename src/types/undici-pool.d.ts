// The one undici module flagman loads by path (runtime/upstream-pool.ts); its class is the Pool the
// package entry exports, typed there.
declare module 'undici/lib/dispatcher/pool.js' {
  const Pool: unknown;
  export default Pool;
}

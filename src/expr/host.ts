// What a Host header may hold before flagman forwards a request or judges one by it: something, with
// no blank, `/`, `@` or `\`, so that it can only name a host (and a port) — never smuggle a path
// or credentials into a redirect's Location, or another host into request.host.

/** Whether `value` is acceptable as a Host header (proxy/headers.ts refuses a request whose Host is not). */
export function isHostValue(value: string): boolean {
  return value !== '' && !/[\s/@\\]/.test(value);
}

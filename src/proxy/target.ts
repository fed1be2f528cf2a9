// The request target (RFC 9112 §3.2). Clients send origin-form (`/path?q`); absolute-form
// (`http://host/path`) is legal too, and a server is to prefer its authority over `Host`. A proxy
// that routes by `Host` but forwards the absolute-form target lets the two disagree: the rules
// see one host, the server another. So an absolute-form target must name the `Host` it came with,
// and is forwarded in origin-form.

/**
 * The origin-form of `url` when it is in absolute-form and agrees with `host`; null when it
 * disagrees or does not parse (the caller answers 400); `url` itself when it is not absolute-form.
 */
export function originForm(url: string, host: string | undefined): string | null {
  // The common case first: one character compare on the request path.
  if (url.charCodeAt(0) === 47 /* '/' */ || url === '*') return url;
  const m = /^https?:\/\/([^/?#]*)([^#]*)$/i.exec(url);
  if (m === null || host === undefined) return null;
  const authority = m[1]!;
  if (authority.toLowerCase() !== host.toLowerCase() || authority.includes('@')) return null;
  const rest = m[2]!;
  return rest === '' || rest[0] === '?' ? `/${rest}` : rest;
}

// The flagman.yaml most end-to-end tests share: `flag("MAINT") > 0` sends everyone to a 503
// maintenance page, anything else goes to `app`. `{{app}}` is the app server's port (startFlagman's
// `vars`); the options add what a test is about.

/**
 * @param {object} [o]
 * @param {string|null} [o.rescan] flags.rescan (null: the default)
 * @param {string} [o.dir] flags.dir
 * @param {boolean} [o.admin] an admin endpoint on a free loopback port
 * @param {Record<string, string>} [o.servers] app's servers: name → flow map
 * @param {string} [o.app] more keys of the app backend (indented 4 spaces, one per line)
 * @param {string} [o.top] more top-level keys
 */
export function maintenanceConfig({
  rescan = null,
  state = null,
  dir = './flags',
  admin = true,
  servers = { app1: '{ address: "127.0.0.1:{{app}}" }' },
  app = '',
  top = '',
} = {}) {
  const flags = `{ dir: ${JSON.stringify(dir)}${rescan === null ? '' : `, rescan: ${rescan}`}${state === null ? '' : `, state: ${state}`} }`;
  const serverLines = Object.entries(servers)
    .map(([name, map]) => `      ${name}: ${map}\n`)
    .join('');
  return `${top}
flags: ${flags}
${admin ? 'admin: { listen: "127.0.0.1:0" }\n' : ''}frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - when: flag("MAINT") > 0
        use: maintenance
      - use: app
backends:
  app:
${app}    servers:
${serverLines}  maintenance:
    respond: { status: 503, body: "maintenance\\n" }
`;
}

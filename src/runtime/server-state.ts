// A server's state is declared (its weight, from config and flags) × observed (its health, from
// active and passive checks). The two tables below are the whole state machine; the code under them
// only reads them, and test/unit/server-state.test.js has one case per row.
//
// State (what /status shows, and whether a new request may go there):
//
//   weight | health | state  | new requests | requests in flight
//   -------+--------+--------+--------------+-------------------
//    > 0   | up     | up     | yes          | finish
//    > 0   | down   | down   | no           | finish
//    0     | up     | drain  | no           | finish
//    0     | down   | down   | no           | finish
//
// Down wins over drain: it is the state an operator has to act on. Nothing here ever cuts a
// request in flight; only a server's own failure does.
//
// Health (one check result at a time; `streak` counts consecutive results against the health):
//
//   health | result | streak after       | health after
//   -------+--------+--------------------+------------------------------
//   up     | pass   | 0                  | up
//   up     | fail   | streak + 1         | down when streak + 1 ≥ fall, streak then 0
//   down   | fail   | 0                  | down
//   down   | pass   | streak + 1         | up when streak + 1 ≥ rise, streak then 0
//
// A server starts up (traffic flows from the first moment; a dead server is found within `fall`
// checks, and meanwhile a refused connection moves its request elsewhere). A passive failure (a
// refused or reset connection) is a failed check; only active checks pass, since traffic that goes
// well proves nothing about a server that is down and gets none.

export const HEALTHS = ['up', 'down'] as const;
export type Health = (typeof HEALTHS)[number];

export const SERVER_STATES = ['up', 'down', 'drain'] as const;
export type ServerStatus = (typeof SERVER_STATES)[number];

/** The first table as data: docs and tests read it. */
export const STATE_TABLE = [
  { weight: '> 0', health: 'up', state: 'up', eligible: true },
  { weight: '> 0', health: 'down', state: 'down', eligible: false },
  { weight: '0', health: 'up', state: 'drain', eligible: false },
  { weight: '0', health: 'down', state: 'down', eligible: false },
] as const satisfies readonly { weight: string; health: Health; state: ServerStatus; eligible: boolean }[];

/** The state of a server of weight `weight` (0–256) and health `health`. */
export function serverStatus(weight: number, health: Health): ServerStatus {
  if (health === 'down') return 'down';
  return weight > 0 ? 'up' : 'drain';
}

/** Whether a new request may go to a server in `status`. */
export function isEligible(status: ServerStatus): boolean {
  return status === 'up';
}

/** The thresholds of a backend's checks. */
export interface HealthRule {
  readonly rise: number;
  readonly fall: number;
}

/** Health and the consecutive results that count toward changing it. */
export interface HealthTrack {
  readonly health: Health;
  readonly streak: number;
}

/** The health after one check result (the second table). */
export function nextHealth(now: HealthTrack, pass: boolean, rule: HealthRule): HealthTrack {
  // A result that agrees with the health restarts the count toward a change.
  if (pass === (now.health === 'up')) return { health: now.health, streak: 0 };
  const streak = now.streak + 1;
  const needed = now.health === 'up' ? rule.fall : rule.rise;
  if (streak < needed) return { health: now.health, streak };
  return { health: now.health === 'up' ? 'down' : 'up', streak: 0 };
}

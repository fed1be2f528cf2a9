// docs/status.schema.json is generated from the `/status` types (src/admin/status-types.ts) by
// `npm run schema`: the committed file must be what the types give now, so a change of the types
// without the schema (or the other way round) fails here.
import fs from 'node:fs';
import test from 'ava';
import { SCHEMA_FILE, statusSchema } from '../../scripts/status-schema.js';

test('the committed /status schema is the one generated from the types (run `npm run schema` after changing them)', (t) => {
  // The generator type-checks the sources: slow on a busy machine.
  t.timeout(180_000);
  const committed = JSON.parse(fs.readFileSync(SCHEMA_FILE, 'utf8'));
  t.deepEqual(committed, statusSchema());
});

// The web UI's views and static files are not TypeScript: copy them next to the compiled server.
import { cpSync, existsSync } from 'node:fs';

for (const dir of ['views', 'static']) {
  const source = `src/web/${dir}`;
  if (existsSync(source)) cpSync(source, `dist/src/web/${dir}`, { recursive: true });
}

import { mkdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * `mkdir -p`, written out: Node's own `mkdir(…, { recursive: true })` never settles on some
 * paths (measured on Node 20: a directory under /proc), which would hang a write forever.
 */
export async function makeDirectories(directory: string): Promise<void> {
  try {
    await mkdir(directory);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    const parent = path.dirname(directory);
    if (code !== 'ENOENT' || parent === directory) throw error;
    await makeDirectories(parent);
    await mkdir(directory).catch((again: NodeJS.ErrnoException) => {
      if (again.code !== 'EEXIST') throw again;
    });
  }
}

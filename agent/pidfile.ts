import { readFileSync, rmSync, writeFileSync } from 'node:fs';

/**
 * Write this process's pid to `file`, refusing when a live process already holds it (a stale
 * file from a crash is taken over). Returns the function that removes it at exit.
 */
export function acquirePidfile(file: string): () => void {
  try {
    writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new Error(`--pidfile ${file}: ${(error as Error).message}`);
    }
    const holder = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
      throw new Error(`--pidfile ${file}: another agent is running as pid ${holder}`);
    }
    writeFileSync(file, `${process.pid}\n`);
  }
  return () => {
    try {
      if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file);
    } catch {
      // Already gone.
    }
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

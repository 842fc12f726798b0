import { createInterface } from 'node:readline';
import { Args, Command, Flags } from '@oclif/core';
import { hashPasswordLine } from '../../web/access.js';

/** Read one line from stdin; on a terminal, without echoing it. */
async function readSecret(prompt: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) {
    const rl = createInterface({ input, terminal: false });
    for await (const line of rl) {
      rl.close();
      return line;
    }
    return '';
  }
  process.stderr.write(prompt);
  input.setRawMode(true);
  input.resume();
  input.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let value = '';
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') {
          input.setRawMode(false);
          input.pause();
          input.off('data', onData);
          process.stderr.write('\n');
          resolve(value);
          return;
        }
        if (char === '\u0003') {
          input.setRawMode(false);
          reject(new Error('cancelled'));
          return;
        }
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
        else value += char;
      }
    };
    input.on('data', onData);
  });
}

export default class WebPasswd extends Command {
  static override summary = 'Print a users-file line (scrypt hash) for "kurado serve --auth basic".';
  static override description =
    `Asks for the password twice on a terminal (or reads one line from stdin) and prints
"<user>:scrypt$N$r$p$<salt>$<hash>" to stdout. Append it to the users file and restart kurado serve.
The password itself is never printed or logged.`;

  static override examples = [
    '<%= config.bin %> web passwd alice >> /etc/kurado/users',
    'printf "%s\\n" "$PASSWORD" | <%= config.bin %> web passwd ci-bot >> /etc/kurado/users',
  ];

  static override args = {
    user: Args.string({ description: 'User name (no ":" or spaces).', required: true }),
  };

  static override flags = {
    'password-stdin': Flags.boolean({
      description: 'Read the password from stdin even on a terminal (no confirmation).',
    }),
  };

  public async run(): Promise<void> {
    const { args, flags } = await this.parse(WebPasswd);
    let password: string;
    try {
      password = await readSecret(`Password for ${args.user}: `);
      if (process.stdin.isTTY && !flags['password-stdin']) {
        const again = await readSecret('Again: ');
        if (again !== password) this.error('the passwords differ', { exit: 1 });
      }
      this.log(await hashPasswordLine(args.user, password));
    } catch (error) {
      this.error((error as Error).message, { exit: 1 });
    }
  }
}

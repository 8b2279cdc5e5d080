import { runCli } from './cli.js';

const abort = new AbortController();
let interrupted = false;
process.on('SIGINT', () => {
  // First Ctrl-C cancels the job cleanly; a second one exits at once.
  if (interrupted) process.exit(130);
  interrupted = true;
  abort.abort();
});

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  cwd: process.cwd(),
  isTTY: process.stderr.isTTY,
  signal: abort.signal,
});

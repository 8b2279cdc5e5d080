/**
 * What a job process sees of the file system: a mount namespace of its own whose root is
 * an empty tmpfs with only what the job needs bound into it, at the same paths as outside
 * (so every path the engine hands the job means the same there):
 *
 *   /usr, /lib…, node          read-only    to run node at all
 *   the engine's code          read-only    its package, node_modules, package.json files
 *   the job's file sources     read-only    and a restore's savepoint
 *   the job's state, sinks     read-write   its checkpoint and savepoint directories, its
 *                                           file sinks' directories, its Kafka relay socket
 *   /dev/{null,zero,random,urandom}, a /proc of its own pid namespace, an empty /tmp
 *
 * Everything else (the engine's data directory with its tokens, other jobs' state, home
 * directories, /etc) is not there at all. Node's permission model, which the job process
 * runs under as well, is a seat belt: its own documentation says malicious code can get
 * around it. The mount namespace is the kernel's: code that got around the permission
 * model, even native code, still finds nothing else to read or write.
 *
 * It is set up by a short shell script between unshare and node (util-linux's mount and
 * pivot_root, as root of the job's user namespace, which needs no privilege outside it).
 * After pivot_root the old root is detached, so there is no path back to it. Then every
 * capability goes (setpriv empties the bounding set): root of a user namespace may remount
 * what it made read-only as read-write again, or mount something new, and code that can
 * make system calls (an addon: RocksDB jobs run with --allow-addons) could. Without
 * CAP_SYS_ADMIN it cannot, and no exec gives the capabilities back.
 */
import { existsSync, lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { dirname, sep } from 'node:path';

/**
 * A user namespace (so no privilege is needed), with its own network (loopback only, down),
 * process ids and mounts (job-jail.ts).
 */
export const NAMESPACES = ['--map-root-user', '--mount', '--net', '--pid', '--fork', '--kill-child'];

export interface JailMount {
  readonly path: string;
  /** 'ro' and 'rw' bind the path; 'ln' makes it a symbolic link to `target` (merged /usr: /lib → usr/lib). */
  readonly mode: 'ro' | 'rw' | 'ln';
  readonly target?: string;
}

/**
 * $1: the (empty) directory to build the root in; $2: the working directory to start in;
 * then mode, path, target triples up to `--`; then the command. No environment: PATH is set here.
 */
const SCRIPT = `set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin
root=$1 cwd=$2
shift 2
mount -t tmpfs -o mode=0755,size=16m sluice-job "$root"
while [ "$1" != -- ]; do
  mode=$1 path=$2 target=$3
  shift 3
  at=$root$path
  if [ "$mode" = ln ]; then
    mkdir -p "$(dirname "$at")"
    ln -s "$target" "$at"
    continue
  fi
  if [ ! -e "$at" ]; then
    if [ -d "$path" ]; then mkdir -p "$at"; else mkdir -p "$(dirname "$at")"; : > "$at"; fi
  fi
  mount --rbind "$path" "$at"
  if [ "$mode" = ro ]; then mount -o remount,bind,ro "$at"; fi
done
shift
mkdir -p "$root/dev" "$root/proc" "$root/tmp"
for dev in null zero random urandom; do
  : > "$root/dev/$dev"
  mount --bind "/dev/$dev" "$root/dev/$dev"
done
mount -t proc proc "$root/proc"
[ -d "$root$cwd" ] || mkdir -p "$root$cwd"
cd "$root"
mkdir .old
pivot_root . .old
cd /
umount -l /.old
rmdir /.old
cd "$cwd"
exec setpriv --bounding-set=-all --inh-caps=-all --no-new-privs -- "$@"
`;

/** The arguments after unshare's own: the script, then what it builds and runs. */
export function jailArgs(root: string, cwd: string, mounts: readonly JailMount[], command: readonly string[]): string[] {
  // Parents before what is inside them, so that a mount inside another lands on top of it.
  const ordered = [...mounts].sort((a, b) => a.path.split(sep).length - b.path.split(sep).length);
  return ['/bin/sh', '-c', SCRIPT, 'sluice-jail', root, cwd, ...ordered.flatMap((m) => [m.mode, m.path, m.target ?? '-']), '--', ...command];
}

const SYSTEM_TOP = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/** What node needs to run: /usr and the top-level library and binary directories (or links into /usr), and node's own directory. */
export function systemMounts(): JailMount[] {
  const mounts: JailMount[] = [];
  for (const path of SYSTEM_TOP) {
    if (!existsSync(path)) continue;
    if (lstatSync(path).isSymbolicLink()) mounts.push({ path, mode: 'ln', target: readlinkSync(path) });
    else mounts.push({ path, mode: 'ro' });
  }
  const nodeHome = dirname(dirname(realpathSync(process.execPath)));
  if (!SYSTEM_TOP.some((top) => nodeHome === top || nodeHome.startsWith(top + sep))) mounts.push({ path: nodeHome, mode: 'ro' });
  return mounts;
}

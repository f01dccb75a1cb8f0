// Starts a real cofferd for a test: $COFFERD --listen=127.0.0.1:PORT
// --data_dir=<fresh temp dir> --shards=2, waits (bounded) for its
// "cofferd listening on 127.0.0.1:PORT" line, and stops it with SIGTERM (or
// SIGKILL) and waits for its exit. cofferd prints that line on stdout (its
// progress and errors go to stderr), so both are read, into one log.

import { spawn, ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const READY_TIMEOUT_MS = 20_000;

export function cofferdPath(): string {
  const p = process.env.COFFERD;
  if (!p) {
    throw new Error(
      "COFFERD is not set: these tests start a real server; set COFFERD to the cofferd binary " +
        "(e.g. COFFERD=/work/bin/cofferd or build/release/net/cofferd)",
    );
  }
  return p;
}

export function freshDataDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), "coffer-ts-test-"));
}

export interface ServerOptions {
  /** Default: a fresh temp dir (removed by cleanup()). */
  dataDir?: string;
  /** Default 0 (the server picks one). */
  port?: number;
  authToken?: string;
  extraArgs?: string[];
}

export class Server {
  private exited: Promise<number | null>;
  private exitCode: number | null | undefined;
  private err = "";

  private constructor(
    readonly proc: ChildProcess,
    readonly port: number,
    readonly dataDir: string,
    private readonly ownDir: boolean,
    stderrSoFar: string,
  ) {
    this.err = stderrSoFar;
    const log = (d: Buffer) => {
      this.err += d.toString();
    };
    proc.stdout!.on("data", log);
    proc.stderr!.on("data", log);
    this.exited = new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) resolve(proc.exitCode);
      else proc.once("exit", (code) => resolve(code));
    });
    void this.exited.then((c) => (this.exitCode = c));
  }

  static async start(o: ServerOptions = {}): Promise<Server> {
    const bin = cofferdPath();
    const ownDir = o.dataDir === undefined;
    const dataDir = o.dataDir ?? freshDataDir();
    const args = [`--listen=127.0.0.1:${o.port ?? 0}`, `--data_dir=${dataDir}`, "--shards=2"];
    if (o.authToken !== undefined) args.push(`--auth_token=${o.authToken}`);
    args.push(...(o.extraArgs ?? []));
    const proc = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const port = await new Promise<number>((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        proc.kill("SIGKILL");
        if (ownDir) rmSync(dataDir, { recursive: true, force: true });
        reject(new Error(`cofferd (${bin} ${args.join(" ")}) ${why}; its output:\n${out}`));
      };
      const timer = setTimeout(() => fail(`did not say it was listening within ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
      const onData = (d: Buffer) => {
        out += d.toString();
        const m = /cofferd listening on 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          proc.stderr!.off("data", onData);
          proc.stdout!.off("data", onData);
          proc.off("exit", onExit);
          proc.off("error", onError);
          resolve(Number(m[1]));
        }
      };
      const onExit = (code: number | null, sig: string | null) => fail(`exited (code ${code}, signal ${sig}) before listening`);
      const onError = (e: Error) => fail(`could not be started: ${e.message}`);
      proc.stderr!.on("data", onData);
      proc.stdout!.on("data", onData);
      proc.once("exit", onExit);
      proc.once("error", onError);
    });
    return new Server(proc, port, dataDir, ownDir, out);
  }

  /** Everything the server printed (stdout and stderr). */
  output(): string {
    return this.err;
  }

  /** SIGTERM and wait for the exit (a graceful stop answers everything in flight). */
  async stop(): Promise<number | null> {
    if (this.exitCode === undefined) this.proc.kill("SIGTERM");
    return this.exited;
  }

  /** SIGKILL and wait for the exit: a crash. */
  async kill(): Promise<void> {
    if (this.exitCode === undefined) this.proc.kill("SIGKILL");
    await this.exited;
  }

  /** Stops the server (if running) and removes the data dir it made. */
  async cleanup(): Promise<void> {
    await this.stop();
    if (this.ownDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Waits until cond() is true, polling every few ms, at most `ms`; throws with `what` otherwise. */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// The few Node APIs the tests use (the project does not depend on @types/node).
declare const process: { env: Record<string, string | undefined> };
declare module "node:fs" {
  export function readFileSync(path: string): Uint8Array;
  export function readFileSync(path: string, encoding: "utf8"): string;
}
